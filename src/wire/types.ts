// What berth.v1's messages mean, as TypeScript values (camelCase, optional fields absent rather than null):
// what the client hands its callers and what the server is given to send. They are declared here, not
// borrowed from the supervisor or the workloads, so the CLI depends on the API contract alone; the server
// passes its own values (src/supervisor/types.ts, src/workloads/) where these are expected, so a field or a
// state added there and missing here is a compile error in src/api/, not a silent drift.
import type { RestartPolicy, UnitClass } from '../units/types.js';

export type { RestartPolicy, UnitClass };
export { RESTART_POLICIES } from '../units/types.js';

export type UnitState =
  | 'waiting'
  | 'preparing'
  | 'starting'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'exited'
  | 'failed'
  | 'backing-off';

export type HealthState = 'none' | 'unknown' | 'healthy' | 'unhealthy';

export interface UnitEvent {
  at: string; // ISO-8601
  state: UnitState;
  message: string;
}

export interface SelinuxInfo {
  processLabel: string;
  mountLabel: string;
  /** True when the labels are in the runtime spec; false when only recorded (SELinux inactive). */
  applied: boolean;
  reason: string;
}

export interface UnitStatus {
  name: string;
  class: UnitClass;
  state: UnitState;
  desired: 'running' | 'stopped';
  image: string;
  superpowered: boolean;
  containerId: string;
  namespace: string;
  pid: number;
  restarts: number;
  exitCode?: number;
  lastError?: string;
  health: HealthState;
  startedAt?: string;
  /** Milliseconds until the next restart attempt while backing off. */
  nextRestartInMs?: number;
  selinux?: SelinuxInfo;
  events: UnitEvent[];
  /** What runs (REF@DIGEST when known); `image` is what was asked. */
  runningImage?: string;
  rollout?: RolloutInfo;
  rolloutHistory?: RolloutInfo[];
}

/** A guarded rollout of a host container's image (src/supervisor/rollout-state.ts). */
export interface RolloutInfo {
  id: number;
  phase: string;
  outcome: string;
  from: { ref: string; digest: string };
  to: { ref: string; digest: string };
  watchMs: number;
  startedAt: string;
  deadline?: string;
  endedAt?: string;
  reason?: string;
  exitCode?: number;
}

export interface LogLine {
  at: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface ExecRequest {
  unit: string;
  args: string[];
  tty: boolean;
  cols?: number;
  rows?: number;
  env?: string[];
}

export interface DaemonStatus {
  ready: boolean;
  containerd: 'connected' | 'unavailable';
  message: string;
}

/** A state change of a unit, or a daemon-wide message (what the supervisor's event bus carries). */
export type UnitOrDaemonEvent =
  | { kind: 'unit'; unit: string; state: UnitState; message: string; at: string }
  | { kind: 'daemon'; message: string; at: string };

/** What `Events.Watch` yields: a snapshot first, then the supervisor's events. */
export type WatchEvent = { kind: 'hello'; at: string; units: UnitStatus[]; daemon: DaemonStatus } | UnitOrDaemonEvent;

export interface WorkloadMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

/** A workload as an operator asks for it (field names as in src/workloads/types.ts, which policy errors name). */
export interface WorkloadRequest {
  name: string;
  image: string;
  /** Replaces the image's entrypoint and cmd when non-empty. */
  command: string[];
  env: Record<string, string>;
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
  mounts: WorkloadMount[];
  restart: RestartPolicy;
  capAdd: string[];
  // Asked-for privileges a workload never gets; sent so that a request naming them is refused, not ignored.
  privileged: boolean;
  hostNetwork: boolean;
  hostPid: boolean;
  devices: string[];
}

export type WorkloadBackendName = 'containerd' | 'docker';

export interface WorkloadInfo {
  request: WorkloadRequest;
  /** `s0:cX,cY`. */
  mcs: string;
  runtime: WorkloadBackendName;
  status: UnitStatus;
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

/** berthd's own process (Host.ProcessStats); loop delay over the window since the previous call. */
export interface ProcessStats {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  openFds: number;
  /** Zeros with windowMs 0 on the call that started the monitor; p99SinceStartMs covers every window since. */
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number; windowMs: number; p99SinceStartMs: number };
}

/** One step of a stop (berth.v1.StopProgress): see src/supervisor/types.ts StopProgress. */
export interface StopProgress {
  /** A host/bootstrap unit, or a workload (names may repeat across the two). */
  kind: 'unit' | 'workload';
  name: string;
  phase: 'signal' | 'kill' | 'stopped' | 'not-running' | 'failed';
  signal?: string;
  timeoutMs?: number;
  elapsedMs: number;
  exitCode?: number;
  message?: string;
}
