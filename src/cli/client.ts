// Typed client for berth.v1 over the local socket (or TCP with mutual TLS): promises for unary calls, async
// iterables for server streams, node streams for exec. Used by berthctl, the tests and the benchmarks.
// Streams, exec and (by default) unary calls go through grpc-js (./client-grpc.ts), loaded on first use;
// with `unary: 'http2'` (berthctl's choice) unary calls over the socket go through our own HTTP/2 client
// (./h2/, on node:net) and a codec over the precompiled protos (./unary-h2.ts), so a one-shot command never
// loads grpc-js, protobufjs or node:http2.
import type { GrpcTransport, TlsTarget } from './client-grpc.js';
import type { H2Unary } from './unary-h2.js';
import {
  hostFactsFromWire, logLineFromWire, processStatsFromWire, pullProgressFromWire, specToWire, stopProgressFromWire, unitFromWire, versionFromWire, watchEventFromWire,
  workloadFromWire, type StopProgress, type WireStopProgress,
  type BerthServiceName, type ExecRequest, type HostFacts, type LogLine, type ProcessStats, type PullProgressMessage, type UnitStatus, type VersionInfo,
  type WatchEvent, type WireEvent, type WireHostFacts, type WireListResponse, type WireLogLine, type WirePullProgress, type WireUnit,
  type WireProcessStats, type WireVersion, type WireWorkload, type WorkloadInfo, type WorkloadRequest,
} from '../wire/index.js';
import { fleetRolloutFromWire, fleetStatusFromWire, type FleetRolloutInfo, type FleetStatus, type WireFleetRolloutResponse, type WireFleetStatus } from '../wire/index.js';
import { berthUnaryCodec } from '../wire/unary-codec.js';
import { updateStatusFromWire, type UpdateStatusInfo, type WireUpdateStatus } from '../wire/updates.js';
import { ApiError, STATUS, streamOf } from './client-call.js';
import { execSession, type ExecHandle } from './client-exec.js';

export { ApiError } from './client-call.js';
export type { ExecHandle } from './client-exec.js';
export type { TlsTarget } from './client-grpc.js';
export type {
  DaemonStatus, ExecRequest, HostFacts, LogLine, ProcessStats, PullProgressMessage, StopProgress, UnitStatus, VersionInfo, WatchEvent, WorkloadInfo, WorkloadRequest,
} from '../wire/index.js';

/** Workloads per list page; the server also closes a page at 1 MiB. */
const LIST_PAGE_SIZE = 100;

export interface ConnectOptions {
  socketPath?: string;
  tls?: TlsTarget;
  /**
   * How unary calls travel: grpc-js (the default), or HTTP/2 (./h2/) with the compiled codec — only over the
   * socket, and only while the build's compiled protos are fresh; otherwise grpc-js all the same.
   */
  unary?: 'grpc-js' | 'http2';
}

export interface CallOptions {
  timeoutMs?: number;
}

export class BerthClient {
  private grpcLoad: Promise<GrpcTransport> | undefined;
  private grpc: GrpcTransport | undefined;
  private h2: Promise<H2Unary> | undefined;
  private closed = false;

  constructor(private readonly options: ConnectOptions) {
    if (!options.tls && !options.socketPath) throw new Error('BerthClient: give socketPath or tls');
  }

  static connect(options: ConnectOptions): BerthClient {
    return new BerthClient(options);
  }

  close(): void {
    this.closed = true;
    this.grpc?.close();
    void this.h2?.then((t) => t.close(), () => undefined);
  }

  /** grpc-js, loaded and connected on first use. */
  private transport(): Promise<GrpcTransport> {
    this.grpcLoad ??= import('./client-grpc.js').then(({ GrpcTransport }) => {
      const t = new GrpcTransport(this.options);
      this.grpc = t;
      // Closed while loading: the channel must not outlive the client.
      if (this.closed) t.close();
      return t;
    });
    return this.grpcLoad;
  }

  private async call<Res>(service: BerthServiceName, method: string, req: object, opts?: CallOptions): Promise<Res> {
    const socketPath = this.options.unary === 'http2' && !this.options.tls ? this.options.socketPath : undefined;
    const codec = socketPath === undefined ? undefined : berthUnaryCodec(service, method);
    if (socketPath !== undefined && codec) {
      this.h2 ??= import('./unary-h2.js').then(({ H2Unary }) => new H2Unary(socketPath));
      return (await (await this.h2).call(codec, req, opts?.timeoutMs)) as Res;
    }
    return (await (await this.transport()).unary(service, method, req, opts?.timeoutMs)) as Res;
  }

  private serverStream<W, T>(service: BerthServiceName, method: string, req: object, map: (w: W) => T | undefined, signal?: AbortSignal): AsyncIterable<T> {
    return streamOf(this.transport().then((t) => t.serverStream<W>(service, method, req)), map, signal);
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
      this.serverStream<WireStopProgress, StopProgress>('Units', 'StopAllWithProgress', {}, stopProgressFromWire, opts.signal),
    stopWithProgress: (name: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<StopProgress> =>
      this.serverStream<WireStopProgress, StopProgress>('Units', 'StopWithProgress', { name }, stopProgressFromWire, opts.signal),
    logs: (name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogLine> => {
      const req = { name, follow: opts.follow ?? false, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) };
      return this.serverStream<WireLogLine, LogLine>('Units', 'Logs', req, logLineFromWire, opts.signal);
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
        if (page.workloads.length === 0 && page.next_page_token) throw new ApiError('workload list: empty page with a next page token', STATUS.INTERNAL);
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
      this.serverStream<WireStopProgress, StopProgress>('Workloads', 'StopWithProgress', { name }, stopProgressFromWire, opts.signal),
    remove: async (name: string, opts?: CallOptions): Promise<void> => {
      await this.call('Workloads', 'Remove', { name }, opts);
    },
    logs: (name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogLine> => {
      const req = { name, follow: opts.follow ?? false, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) };
      return this.serverStream<WireLogLine, LogLine>('Workloads', 'Logs', req, logLineFromWire, opts.signal);
    },
  };

  // ---- Events, Images, Host ----------------------------------------------------------------------------

  readonly events = {
    /** First a `hello` snapshot, then events as they happen, until `signal` fires or the server ends. */
    watch: (opts: { signal?: AbortSignal } = {}): AsyncIterable<WatchEvent> =>
      this.serverStream<WireEvent, WatchEvent>('Events', 'Watch', {}, watchEventFromWire, opts.signal),
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
      this.serverStream<WirePullProgress, PullProgressMessage>('Images', 'Pull', { ref }, pullProgressFromWire, opts.signal),
    prune: async (opts?: CallOptions): Promise<{ contentRemoved: number; snapshotsRemoved: number; bytesReclaimed: number }> => {
      const r = await this.call<{ content_removed: number; snapshots_removed: number; bytes_reclaimed: number }>('Images', 'Prune', {}, opts);
      return { contentRemoved: r.content_removed, snapshotsRemoved: r.snapshots_removed, bytesReclaimed: r.bytes_reclaimed };
    },
  };

  readonly host = {
    facts: async (opts?: CallOptions): Promise<HostFacts> => hostFactsFromWire(await this.call<WireHostFacts>('Host', 'Facts', {}, opts)),
    version: async (opts?: CallOptions): Promise<VersionInfo> => versionFromWire(await this.call<WireVersion>('Host', 'Version', {}, opts)),
    /** berthd's RSS, heap, open fds, and its event-loop delay since the previous call (the first starts the monitor). */
    processStats: async (opts?: CallOptions): Promise<ProcessStats> =>
      processStatsFromWire(await this.call<WireProcessStats>('Host', 'ProcessStats', {}, opts)),
  };

  readonly fleet = {
    /** The hosts of `group` (default: the daemon's own fleet.group), as berthd reads them from etcd. */
    status: async (group?: string, opts?: CallOptions): Promise<FleetStatus> =>
      fleetStatusFromWire(await this.call<WireFleetStatus>('Fleet', 'Status', { group: group ?? '' }, opts)),
    /** Starts the group's rolling update to `version` (maxConcurrent 0: each host's fleet.max-concurrent-reboots). */
    update: async (group: string | undefined, version: string, maxConcurrent = 0, opts?: CallOptions): Promise<{ group: string; rollout: FleetRolloutInfo }> =>
      rolloutFromWire(await this.call<WireFleetRolloutResponse>('Fleet', 'Update', { group: group ?? '', version, max_concurrent: maxConcurrent }, opts)),
    hold: async (group?: string, opts?: CallOptions): Promise<{ group: string; rollout: FleetRolloutInfo }> =>
      rolloutFromWire(await this.call<WireFleetRolloutResponse>('Fleet', 'Hold', { group: group ?? '' }, opts)),
    resume: async (group?: string, opts?: CallOptions): Promise<{ group: string; rollout: FleetRolloutInfo }> =>
      rolloutFromWire(await this.call<WireFleetRolloutResponse>('Fleet', 'Resume', { group: group ?? '' }, opts)),
  };

  readonly updates = {
    check: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Check', {}, opts)),
    /** Starts an apply; the answer has the operation running (poll `status` for its end). */
    apply: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Apply', {}, opts)),
    cancel: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Cancel', {}, opts)),
    status: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Status', {}, opts)),
    prepare: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Prepare', {}, opts)),
    activate: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Activate', {}, opts)),
    deactivate: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Deactivate', {}, opts)),
    /** The previous good version boots next; the answer carries `lastRollback`. */
    rollback: async (opts?: CallOptions): Promise<UpdateStatusInfo> => updateStatusFromWire(await this.call<WireUpdateStatus>('Updates', 'Rollback', {}, opts)),
    /**
     * Reboots once updates.reboot-strategy allows it, waiting at most `waitMs` (default 0: only a slot free now)
     * for a reboot slot; the answer comes before updates.reboot-command runs.
     */
    reboot: async (opts: CallOptions & { waitMs?: number } = {}): Promise<{ message: string; toVersion?: string }> => {
      const waitMs = opts.waitMs ?? 0;
      // The call's deadline leaves room past the wait for the refusal (it reads who holds the slots).
      const r = await this.call<{ message?: string; to_version?: string }>('Updates', 'Reboot', { wait_ms: waitMs }, { timeoutMs: opts.timeoutMs ?? waitMs + 30_000 });
      return { message: r.message ?? '', ...(r.to_version ? { toVersion: r.to_version } : {}) };
    },
  };

  // ---- exec --------------------------------------------------------------------------------------------

  private exec(req: ExecRequest): ExecHandle {
    return execSession(this.transport().then((t) => t.exec()), req);
  }
}

function rolloutFromWire(w: WireFleetRolloutResponse): { group: string; rollout: FleetRolloutInfo } {
  return { group: w.group ?? '', rollout: fleetRolloutFromWire(w.rollout) };
}
