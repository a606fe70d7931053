// The grpc-js transport of BerthClient (./client.ts): one channel shared by every service stub, for unary
// calls, server streams and exec. Loaded on first use, so a berthctl that only makes unary calls over HTTP/2
// (./unary-h2.ts) never pays for grpc-js and protobufjs.
import * as grpc from '@grpc/grpc-js';
import { berthClientConstructor } from '../wire/proto.js';
import { BERTH_SERVICES, type BerthServiceName, type WireExecInput, type WireExecOutput } from '../wire/index.js';
import { apiError } from './client-call.js';

export interface TlsTarget {
  /** host:port */
  address: string;
  /** PEM contents: the CA that signed the server's certificate; our certificate and key (mutual TLS). */
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Name to check the server certificate against, when it differs from the address's host. */
  serverName?: string;
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type Stub = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const constructors = new Map<BerthServiceName, grpc.ServiceClientConstructor>();
function ctor(name: BerthServiceName): grpc.ServiceClientConstructor {
  let c = constructors.get(name);
  if (!c) {
    c = berthClientConstructor(name);
    constructors.set(name, c);
  }
  return c;
}

export class GrpcTransport {
  private readonly stubs = new Map<BerthServiceName, Stub>();
  private readonly channel: grpc.Channel;

  constructor(options: { socketPath?: string; tls?: TlsTarget }) {
    let target: string;
    let creds: grpc.ChannelCredentials;
    // A restarted berthd is back within a second: do not let grpc-js back off for up to 2 minutes.
    const channelOptions: grpc.ChannelOptions = { 'grpc.enable_channelz': 0, 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };
    if (options.tls) {
      const t = options.tls;
      target = t.address;
      creds = grpc.credentials.createSsl(t.ca, t.key ?? null, t.cert ?? null);
      if (t.serverName) channelOptions['grpc.ssl_target_name_override'] = t.serverName;
    } else if (options.socketPath) {
      target = `unix://${options.socketPath}`;
      creds = grpc.credentials.createInsecure();
    } else {
      throw new Error('BerthClient: give socketPath or tls');
    }
    // One channel (one connection) shared by every service stub.
    this.channel = new grpc.Channel(target, creds, channelOptions);
    for (const name of BERTH_SERVICES) {
      const Ctor = ctor(name);
      this.stubs.set(name, new Ctor(target, creds, { ...channelOptions, channelOverride: this.channel }) as Stub);
    }
  }

  close(): void {
    for (const stub of this.stubs.values()) stub.close();
    this.channel.close();
  }

  private stub(name: BerthServiceName): Stub {
    return this.stubs.get(name) as Stub;
  }

  /**
   * After berthd restarts, the channel sits in TRANSIENT_FAILURE until its next reconnect attempt and would
   * fail calls at once; give it a moment to reconnect first. A berthd that is really gone still fails fast.
   */
  private async connected(): Promise<void> {
    const state = this.channel.getConnectivityState(true);
    if (state === grpc.connectivityState.READY || state === grpc.connectivityState.SHUTDOWN) return;
    const stub = this.stubs.values().next().value as grpc.Client | undefined;
    await new Promise<void>((resolve) => stub?.waitForReady(Date.now() + 1500, () => resolve()) ?? resolve());
  }

  async unary(service: BerthServiceName, method: string, req: object, timeoutMs?: number): Promise<unknown> {
    await this.connected();
    return new Promise((resolve, reject) => {
      const cb: Callback = (err, res) => (err ? reject(apiError(err)) : resolve(res));
      const stub = this.stub(service);
      if (timeoutMs !== undefined) stub[method]!(req, { deadline: Date.now() + timeoutMs }, cb);
      else stub[method]!(req, cb);
    });
  }

  serverStream<W>(service: BerthServiceName, method: string, req: object): grpc.ClientReadableStream<W> {
    return this.stub(service)[method]!(req) as grpc.ClientReadableStream<W>;
  }

  exec(): grpc.ClientDuplexStream<WireExecInput, WireExecOutput> {
    return this.stub('Units')['Exec']!() as grpc.ClientDuplexStream<WireExecInput, WireExecOutput>;
  }
}
