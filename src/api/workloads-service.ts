// berth.v1.Workloads: run/list/start/stop/remove workloads and read their logs. The logic lives behind
// WorkloadsApi (src/workloads/manager.ts); this file only translates messages.
import type * as grpc from '@grpc/grpc-js';
import type { LogLine, UnitStatus } from '../supervisor/types.js';
import type { RestartPolicy } from '../units/types.js';
import { RESTART_POLICIES } from '../units/types.js';
import type { WorkloadInfo } from '../workloads/manager.js';
import type { WorkloadRequest } from '../workloads/types.js';
import { ActiveStreams, failStream, unary, untilAborted, writeMessage } from './calls.js';
import { unitFromWire, unitToWire } from './convert.js';
import { UnavailableError, ValidationError } from './errors.js';
import type { WireLogLine, WireUnit } from './wire.js';

export interface WorkloadsApi {
  run(request: WorkloadRequest): Promise<WorkloadInfo>;
  list(): WorkloadInfo[];
  get(name: string): WorkloadInfo;
  startWorkload(name: string): Promise<WorkloadInfo>;
  stop(name: string): Promise<WorkloadInfo>;
  remove(name: string): Promise<void>;
  logs(name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine>;
}

export interface WireWorkloadSpec {
  name: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  memory_bytes?: number | null;
  cpus?: number | null;
  pids?: number | null;
  mounts: { source: string; destination: string; read_only: boolean }[];
  restart: string;
  cap_add: string[];
  privileged: boolean;
  host_network: boolean;
  host_pid: boolean;
  devices: string[];
}

export interface WireWorkload {
  spec: WireWorkloadSpec | null;
  runtime: string;
  mcs: string;
  status: WireUnit | null;
}

const present = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

export function specToWire(r: WorkloadRequest): WireWorkloadSpec {
  return {
    name: r.name, image: r.image, command: r.command, env: r.env,
    ...(r.memoryBytes !== undefined ? { memory_bytes: r.memoryBytes } : {}),
    ...(r.cpus !== undefined ? { cpus: r.cpus } : {}),
    ...(r.pids !== undefined ? { pids: r.pids } : {}),
    mounts: r.mounts.map((m) => ({ source: m.source, destination: m.destination, read_only: m.readOnly })),
    restart: r.restart, cap_add: r.capAdd, privileged: r.privileged, host_network: r.hostNetwork, host_pid: r.hostPid, devices: r.devices,
  };
}

/** Wire → request; an empty restart means the default (always). */
export function specFromWire(w: WireWorkloadSpec | null | undefined): WorkloadRequest {
  if (!w) throw new ValidationError('spec', 'is required');
  const restart = w.restart === '' || w.restart === undefined ? 'always' : w.restart;
  if (!RESTART_POLICIES.includes(restart as RestartPolicy)) throw new ValidationError('restart', `must be one of ${RESTART_POLICIES.join(', ')} (got ${JSON.stringify(w.restart)})`);
  return {
    name: w.name, image: w.image, command: [...(w.command ?? [])], env: { ...(w.env ?? {}) },
    ...(present(w.memory_bytes) ? { memoryBytes: w.memory_bytes } : {}),
    ...(present(w.cpus) ? { cpus: w.cpus } : {}),
    ...(present(w.pids) ? { pids: w.pids } : {}),
    mounts: (w.mounts ?? []).map((m) => ({ source: m.source, destination: m.destination, readOnly: m.read_only })),
    restart: restart as RestartPolicy,
    capAdd: [...(w.cap_add ?? [])], privileged: w.privileged ?? false, hostNetwork: w.host_network ?? false, hostPid: w.host_pid ?? false,
    devices: [...(w.devices ?? [])],
  };
}

export function workloadToWire(w: WorkloadInfo): WireWorkload {
  return { spec: specToWire(w.request), runtime: w.runtime, mcs: w.mcs, status: unitToWire(w.status) };
}

export function workloadFromWire(w: WireWorkload): WorkloadInfo {
  return {
    request: specFromWire(w.spec),
    runtime: w.runtime === 'docker' ? 'docker' : 'containerd',
    mcs: w.mcs,
    status: w.status ? unitFromWire(w.status) : ({} as UnitStatus),
  };
}

interface NameRequest {
  name: string;
}

export function workloadsService(api: WorkloadsApi, streams: ActiveStreams): grpc.UntypedServiceImplementation {
  const logs = (call: grpc.ServerWritableStream<{ name: string; tail?: number | null; follow: boolean }, WireLogLine>): void => {
    const { name, tail, follow } = call.request;
    const controller = streams.track(call);
    const signal = controller.signal;
    void (async () => {
      const opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = { follow, signal };
      if (present(tail)) {
        if (tail < 0) throw new ValidationError('tail', `must not be negative, got ${tail}`);
        opts.tail = tail;
      }
      for await (const line of untilAborted(api.logs(name, opts), signal)) {
        await writeMessage(call, { at: line.at, stream: line.stream, line: line.line }, signal);
      }
      if (signal.aborted && !call.cancelled) throw new UnavailableError('berthd is shutting down');
      if (!call.cancelled) call.end();
    })()
      .catch((err: unknown) => failStream(call, err))
      .finally(() => controller.abort());
  };
  return {
    Run: unary<{ spec: WireWorkloadSpec | null }, WireWorkload>(async ({ spec }) => workloadToWire(await api.run(specFromWire(spec)))),
    List: unary<Record<string, never>, { workloads: WireWorkload[] }>(() => ({ workloads: api.list().map(workloadToWire) })),
    Get: unary<NameRequest, WireWorkload>(({ name }) => workloadToWire(api.get(name))),
    Start: unary<NameRequest, WireWorkload>(async ({ name }) => workloadToWire(await api.startWorkload(name))),
    Stop: unary<NameRequest, WireWorkload>(async ({ name }) => workloadToWire(await api.stop(name))),
    Remove: unary<NameRequest, Record<string, never>>(async ({ name }) => {
      await api.remove(name);
      return {};
    }),
    Logs: logs as grpc.handleServerStreamingCall<unknown, unknown>,
  };
}
