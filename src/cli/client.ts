// Typed client for berth.v1 over the local socket (or TCP with mutual TLS): promises for unary calls, async
// iterables for server streams, node streams for exec. Used by berthctl, the tests and the benchmarks, so it
// loads the protos once and keeps per-call work to the gRPC call itself.
import * as grpc from '@grpc/grpc-js';
import {
  berthClientConstructor, hostFactsFromWire, logLineFromWire, pullProgressFromWire, specToWire, stopProgressFromWire, unitFromWire, versionFromWire,
  watchEventFromWire, workloadFromWire, type StopProgress, type WireStopProgress,
  type BerthServiceName, type ExecRequest, type HostFacts, type LogLine, type PullProgressMessage, type UnitStatus, type VersionInfo,
  type WatchEvent, type WireEvent, type WireHostFacts, type WireListResponse, type WireLogLine, type WirePullProgress, type WireUnit,
  type WireExecInput, type WireExecOutput, type WireVersion, type WireWorkload, type WorkloadInfo, type WorkloadRequest,
} from '../wire/index.js';
import { ApiError, apiError, streamOf } from './client-call.js';
import { execSession, type ExecHandle } from './client-exec.js';

export { ApiError } from './client-call.js';
export type { ExecHandle } from './client-exec.js';
export type {
  DaemonStatus, ExecRequest, HostFacts, LogLine, PullProgressMessage, StopProgress, UnitStatus, VersionInfo, WatchEvent, WorkloadInfo, WorkloadRequest,
} from '../wire/index.js';

/** Workloads per list page; the server also closes a page at 1 MiB. */
const LIST_PAGE_SIZE = 100;

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

export interface ConnectOptions {
  socketPath?: string;
  tls?: TlsTarget;
}

export interface CallOptions {
  timeoutMs?: number;
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type Stub = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const SERVICE_NAMES: readonly BerthServiceName[] = ['Settings', 'Units', 'Events', 'Images', 'Host', 'Workloads'];
const constructors = new Map<BerthServiceName, grpc.ServiceClientConstructor>();
function ctor(name: BerthServiceName): grpc.ServiceClientConstructor {
  let c = constructors.get(name);
  if (!c) {
    c = berthClientConstructor(name);
    constructors.set(name, c);
  }
  return c;
}

export class BerthClient {
  private readonly stubs = new Map<BerthServiceName, Stub>();
  private readonly channel: grpc.Channel;

  constructor(options: ConnectOptions) {
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
    for (const name of SERVICE_NAMES) {
      const Ctor = ctor(name);
      this.stubs.set(name, new Ctor(target, creds, { ...channelOptions, channelOverride: this.channel }) as Stub);
    }
  }

  static connect(options: ConnectOptions): BerthClient {
    return new BerthClient(options);
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

  private async call<Res>(service: BerthServiceName, method: string, req: object, opts?: CallOptions): Promise<Res> {
    await this.connected();
    return new Promise((resolve, reject) => {
      const cb: Callback = (err, res) => (err ? reject(apiError(err)) : resolve(res as Res));
      const stub = this.stub(service);
      if (opts?.timeoutMs !== undefined) stub[method]!(req, { deadline: Date.now() + opts.timeoutMs }, cb);
      else stub[method]!(req, cb);
    });
  }

  private serverStream<W>(service: BerthServiceName, method: string, req: object): grpc.ClientReadableStream<W> {
    return this.stub(service)[method]!(req) as grpc.ClientReadableStream<W>;
  }

  // ---- Settings ----------------------------------------------------------------------------------------

  readonly settings = {
    get: async (prefix?: string, opts?: CallOptions): Promise<unknown> =>
      JSON.parse((await this.call<{ json: string }>('Settings', 'Get', { prefix: prefix ?? '' }, opts)).json) as unknown,
    set: async (values: Record<string, string>, opts?: CallOptions): Promise<string[]> =>
      (await this.call<{ changed: string[] }>('Settings', 'Set', { values }, opts)).changed,
    setJson: async (json: string, opts?: CallOptions): Promise<string[]> =>
      (await this.call<{ changed: string[] }>('Settings', 'SetJson', { json }, opts)).changed,
    /** `format` omitted: the server tells TOML from JSON by the content. */
    apply: async (document: string, format?: 'toml' | 'json', opts?: CallOptions): Promise<string[]> =>
      (await this.call<{ changed: string[] }>('Settings', 'Apply', { document, format: format ?? '' }, opts)).changed,
    stage: async (tx: string, values: Record<string, string>, opts?: CallOptions): Promise<void> => {
      await this.call('Settings', 'Stage', { tx, values }, opts);
    },
    commit: async (tx: string, opts?: CallOptions): Promise<string[]> =>
      (await this.call<{ changed: string[] }>('Settings', 'Commit', { tx }, opts)).changed,
    discard: async (tx: string, opts?: CallOptions): Promise<void> => {
      await this.call('Settings', 'Discard', { tx }, opts);
    },
    pending: async (tx: string, opts?: CallOptions): Promise<Record<string, unknown>> =>
      JSON.parse((await this.call<{ json: string }>('Settings', 'Pending', { tx }, opts)).json) as Record<string, unknown>,
    keys: async (opts?: CallOptions): Promise<{ pattern: string; description: string }[]> =>
      (await this.call<{ keys: { pattern: string; description: string }[] }>('Settings', 'Keys', {}, opts)).keys,
  };

  // ---- Units -------------------------------------------------------------------------------------------

  readonly units = {
    list: async (opts?: CallOptions): Promise<UnitStatus[]> =>
      (await this.call<{ units: WireUnit[] }>('Units', 'List', {}, opts)).units.map(unitFromWire),
    get: async (name: string, opts?: CallOptions): Promise<UnitStatus> =>
      unitFromWire(await this.call<WireUnit>('Units', 'Get', { name }, opts)),
    start: async (name: string, opts?: CallOptions): Promise<UnitStatus> =>
      unitFromWire(await this.call<WireUnit>('Units', 'Start', { name }, opts)),
    stop: async (name: string, opts?: CallOptions): Promise<UnitStatus> =>
      unitFromWire(await this.call<WireUnit>('Units', 'Stop', { name }, opts)),
    restart: async (name: string, opts?: CallOptions): Promise<UnitStatus> =>
      unitFromWire(await this.call<WireUnit>('Units', 'Restart', { name }, opts)),
    /** Every unit and every workload stopped, their containers removed. */
    stopAll: async (opts?: CallOptions): Promise<void> => {
      await this.call('Units', 'StopAll', {}, opts);
    },
    /** stopAll, reporting each step as it happens; ends when everything is stopped. */
    stopAllWithProgress: (opts: { signal?: AbortSignal } = {}): AsyncIterable<StopProgress> =>
      streamOf(this.serverStream<WireStopProgress>('Units', 'StopAllWithProgress', {}), stopProgressFromWire, opts.signal),
    stopWithProgress: (name: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<StopProgress> =>
      streamOf(this.serverStream<WireStopProgress>('Units', 'StopWithProgress', { name }), stopProgressFromWire, opts.signal),
    logs: (name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogLine> => {
      const req = { name, follow: opts.follow ?? false, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) };
      return streamOf(this.serverStream<WireLogLine>('Units', 'Logs', req), logLineFromWire, opts.signal);
    },
    exec: (req: ExecRequest): ExecHandle => this.exec(req),
  };

  // ---- Workloads ---------------------------------------------------------------------------------------

  readonly workloads = {
    run: async (request: WorkloadRequest, opts?: CallOptions): Promise<WorkloadInfo> =>
      workloadFromWire(await this.call<WireWorkload>('Workloads', 'Run', { spec: specToWire(request) }, opts)),
    /** Every workload, fetched in pages so a list of any total size arrives (each response < 4 MiB). */
    list: async (opts?: CallOptions): Promise<WorkloadInfo[]> => {
      const out: WorkloadInfo[] = [];
      let token = '';
      do {
        const page = await this.call<WireListResponse>('Workloads', 'List', { page_size: LIST_PAGE_SIZE, page_token: token }, opts);
        // A server that pages always makes progress; an empty page with a token would loop forever.
        if (page.workloads.length === 0 && page.next_page_token) throw new ApiError('workload list: empty page with a next page token', grpc.status.INTERNAL);
        for (const w of page.workloads) out.push(workloadFromWire(w));
        token = page.next_page_token ?? '';
      } while (token !== '');
      return out;
    },
    get: async (name: string, opts?: CallOptions): Promise<WorkloadInfo> =>
      workloadFromWire(await this.call<WireWorkload>('Workloads', 'Get', { name }, opts)),
    start: async (name: string, opts?: CallOptions): Promise<WorkloadInfo> =>
      workloadFromWire(await this.call<WireWorkload>('Workloads', 'Start', { name }, opts)),
    stop: async (name: string, opts?: CallOptions): Promise<WorkloadInfo> =>
      workloadFromWire(await this.call<WireWorkload>('Workloads', 'Stop', { name }, opts)),
    /** stop, reporting each step as it happens; ends when the workload is stopped. */
    stopWithProgress: (name: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<StopProgress> =>
      streamOf(this.serverStream<WireStopProgress>('Workloads', 'StopWithProgress', { name }), stopProgressFromWire, opts.signal),
    remove: async (name: string, opts?: CallOptions): Promise<void> => {
      await this.call('Workloads', 'Remove', { name }, opts);
    },
    logs: (name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogLine> => {
      const req = { name, follow: opts.follow ?? false, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) };
      return streamOf(this.serverStream<WireLogLine>('Workloads', 'Logs', req), logLineFromWire, opts.signal);
    },
  };

  // ---- Events, Images, Host ----------------------------------------------------------------------------

  readonly events = {
    /** First a `hello` snapshot, then events as they happen, until `signal` fires or the server ends. */
    watch: (opts: { signal?: AbortSignal } = {}): AsyncIterable<WatchEvent> =>
      streamOf(this.serverStream<WireEvent>('Events', 'Watch', {}), watchEventFromWire, opts.signal),
  };

  readonly images = {
    import: async (path: string, ref?: string, opts?: CallOptions): Promise<{ name: string; digest: string }[]> =>
      (await this.call<{ images: { name: string; digest: string }[] }>('Images', 'Import', { path, ref: ref ?? '' }, opts)).images,
    list: async (opts?: CallOptions): Promise<{ name: string; digest: string; size: number }[]> =>
      (await this.call<{ images: { name: string; digest: string; size: number }[] }>('Images', 'List', {}, opts)).images,
    remove: async (ref: string, opts?: CallOptions): Promise<void> => {
      await this.call('Images', 'Remove', { ref }, opts);
    },
    /** Progress messages while berthd pulls; the last one has phase `done`, `name` and `digest`. */
    pull: (ref: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<PullProgressMessage> =>
      streamOf(this.serverStream<WirePullProgress>('Images', 'Pull', { ref }), pullProgressFromWire, opts.signal),
    prune: async (opts?: CallOptions): Promise<{ contentRemoved: number; snapshotsRemoved: number; bytesReclaimed: number }> => {
      const r = await this.call<{ content_removed: number; snapshots_removed: number; bytes_reclaimed: number }>('Images', 'Prune', {}, opts);
      return { contentRemoved: r.content_removed, snapshotsRemoved: r.snapshots_removed, bytesReclaimed: r.bytes_reclaimed };
    },
  };

  readonly host = {
    facts: async (opts?: CallOptions): Promise<HostFacts> => hostFactsFromWire(await this.call<WireHostFacts>('Host', 'Facts', {}, opts)),
    version: async (opts?: CallOptions): Promise<VersionInfo> => versionFromWire(await this.call<WireVersion>('Host', 'Version', {}, opts)),
  };

  // ---- exec --------------------------------------------------------------------------------------------

  private exec(req: ExecRequest): ExecHandle {
    return execSession(this.stub('Units')['Exec']!() as grpc.ClientDuplexStream<WireExecInput, WireExecOutput>, req);
  }
}
