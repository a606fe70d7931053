// Typed client for berth.v1 over the local socket (or TCP with mutual TLS): promises for unary calls, async
// iterables for server streams, node streams for exec. Used by berthctl, the tests and the benchmarks, so it
// loads the protos once and keeps per-call work to the gRPC call itself.
import * as grpc from '@grpc/grpc-js';
import { PassThrough, Writable, type Readable } from 'node:stream';
import {
  daemonFromWire, logLineFromWire, unitFromWire, watchEventFromWire, type DaemonStatus, type WatchEvent,
} from '../api/convert.js';
import { berthClientConstructor, type BerthServiceName } from '../api/proto.js';
import type { WireEvent, WireExecInput, WireExecOutput, WireHostFacts, WireLogLine, WirePullProgress, WireUnit, WireVersion } from '../api/wire.js';
import type { ExecRequest, LogLine, UnitStatus } from '../supervisor/types.js';
import { specToWire, workloadFromWire, type WireListResponse, type WireWorkload } from '../api/workloads-service.js';

/** Workloads per list page; the server also closes a page at 1 MiB. */
const LIST_PAGE_SIZE = 100;
import type { WorkloadInfo } from '../workloads/manager.js';
import type { WorkloadRequest } from '../workloads/types.js';

export type { DaemonStatus, WatchEvent } from '../api/convert.js';
export type { ExecRequest, LogLine, UnitStatus } from '../supervisor/types.js';
export type { WorkloadInfo } from '../workloads/manager.js';
export type { WorkloadRequest } from '../workloads/types.js';

/** A failed call: the server's message and its gRPC code, so callers branch on `code`, not on text. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly code: grpc.status,
  ) {
    super(message);
  }
  /** `NOT_FOUND`, `INVALID_ARGUMENT`, … */
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

function apiError(err: unknown): Error {
  if (err instanceof ApiError) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e && typeof e.code === 'number') return new ApiError(e.details || e.message || grpc.status[e.code] || 'error', e.code);
  return err instanceof Error ? err : new Error(String(err));
}

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

export interface ExecHandle {
  /** Writes go to the process's stdin; ending it closes the process's stdin. */
  stdin: Writable;
  stdout: Readable;
  /** Empty with a TTY (the terminal merges the streams). */
  stderr: Readable;
  resize(cols: number, rows: number): void;
  /** Resolves with the exit code once all output has arrived. */
  exitCode: Promise<number>;
  /** Abandons the session (the server closes the process's stdin). */
  cancel(): void;
}

export interface HostFacts {
  os: { platform: string; distro: string; release: string; arch: string; hostname: string };
  kernel: string;
  cpu: { manufacturer: string; model: string; cores: number; physicalCores: number; speed: number };
  memory: { total: number; free: number; available: number };
  disks: { name: string; model: string; size: number; removable: boolean }[];
  filesystems: { device: string; type: string; mount: string; size: number; used: number }[];
  selinux: { enabled: boolean; mode: string };
  containerdVersion: string;
  warnings: string[];
}

export interface VersionInfo {
  berthVersion: string;
  containerdVersion: string;
  daemon: DaemonStatus;
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

/** Ends `it` (cancelling the call) when `signal` fires; a cancellation we asked for is not an error. */
async function* streamOf<W, T>(call: grpc.ClientReadableStream<W>, map: (w: W) => T | undefined, signal?: AbortSignal): AsyncGenerator<T> {
  const onAbort = (): void => call.cancel();
  if (signal?.aborted) call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of call as AsyncIterable<W>) {
      const value = map(msg);
      if (value !== undefined) yield value;
    }
  } catch (err) {
    if (signal?.aborted && (err as Partial<grpc.ServiceError>).code === grpc.status.CANCELLED) return;
    throw apiError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}

export interface PullProgressMessage {
  phase: string;
  message: string;
  bytesDone: number;
  bytesTotal: number;
  layersDone: number;
  layersTotal: number;
  /** Set on the final (`done`) message. */
  name: string;
  digest: string;
}
const pullProgressFromWire = (w: WirePullProgress): PullProgressMessage => ({
  phase: w.phase, message: w.message, bytesDone: w.bytes_done, bytesTotal: w.bytes_total, layersDone: w.layers_done, layersTotal: w.layers_total, name: w.name, digest: w.digest,
});

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
    stopAll: async (opts?: CallOptions): Promise<void> => {
      await this.call('Units', 'StopAll', {}, opts);
    },
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
    version: async (opts?: CallOptions): Promise<VersionInfo> => {
      const v = await this.call<WireVersion>('Host', 'Version', {}, opts);
      return { berthVersion: v.berth_version, containerdVersion: v.containerd_version, daemon: daemonFromWire(v.daemon) };
    },
  };

  // ---- exec --------------------------------------------------------------------------------------------

  private exec(req: ExecRequest): ExecHandle {
    const call = (this.stub('Units')['Exec']!() as grpc.ClientDuplexStream<WireExecInput, WireExecOutput>);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    call.write({
      start: { unit: req.unit, args: req.args, tty: req.tty, cols: req.cols ?? 0, rows: req.rows ?? 0, env: req.env ?? [] },
    });

    // grpc-js calls back once a message is handed to the transport: that is our stdin backpressure.
    const stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        call.write({ stdin: chunk }, () => cb());
      },
      final(cb) {
        call.write({ close_stdin: {} }, () => cb());
      },
    });
    stdin.on('error', () => undefined);

    let paused = 0;
    const relieve = (): void => {
      if (--paused === 0) call.resume();
    };
    const deliver = (target: PassThrough, data: Uint8Array): void => {
      if (!target.write(data)) {
        if (paused++ === 0) call.pause();
        target.once('drain', relieve);
      }
    };

    let settled = false;
    const exitCode = new Promise<number>((resolve, reject) => {
      const finish = (): void => {
        settled = true;
        stdout.end();
        stderr.end();
      };
      call.on('data', (msg: WireExecOutput) => {
        if ('stdout' in msg && msg.stdout) deliver(stdout, msg.stdout);
        else if ('stderr' in msg && msg.stderr) deliver(stderr, msg.stderr);
        else if ('exit' in msg && msg.exit) {
          finish();
          call.end();
          resolve(msg.exit.code);
        }
      });
      call.on('error', (err) => {
        if (!settled) finish();
        reject(apiError(err));
      });
      call.on('end', () => {
        if (!settled) {
          finish();
          reject(new ApiError('exec ended without an exit status', grpc.status.UNKNOWN));
        }
      });
    });
    exitCode.catch(() => undefined);

    return {
      stdin,
      stdout,
      stderr,
      exitCode,
      resize: (cols, rows) => {
        if (!settled) call.write({ resize: { cols, rows } });
      },
      cancel: () => call.cancel(),
    };
  }
}

function hostFactsFromWire(w: WireHostFacts): HostFacts {
  return {
    os: w.os ?? { platform: '', distro: '', release: '', arch: '', hostname: '' },
    kernel: w.kernel,
    cpu: w.cpu
      ? { manufacturer: w.cpu.manufacturer, model: w.cpu.model, cores: w.cpu.cores, physicalCores: w.cpu.physical_cores, speed: w.cpu.speed }
      : { manufacturer: '', model: '', cores: 0, physicalCores: 0, speed: 0 },
    memory: w.memory ?? { total: 0, free: 0, available: 0 },
    disks: w.disks,
    filesystems: w.filesystems,
    selinux: w.selinux ?? { enabled: false, mode: '' },
    containerdVersion: w.containerd_version,
    warnings: w.warnings,
  };
}
