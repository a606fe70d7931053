// TypeScript shapes of berth.v1 messages as they come off the wire with our loader options (snake_case,
// int64 as number, defaults filled in, oneof name in a marker field). Server (src/api/) and client
// (src/cli/) both use them, so a field renamed in a .proto shows up as a compile error on both sides once
// changed here.

export interface WireUnitEvent {
  at: string;
  state: string;
  message: string;
}

export interface WireSelinux {
  process_label: string;
  mount_label: string;
  applied: boolean;
  reason: string;
}

export interface WireUnit {
  name: string;
  class: string;
  state: string;
  desired: string;
  image: string;
  superpowered: boolean;
  container_id: string;
  namespace: string;
  pid: number;
  restarts: number;
  exit_code?: number;
  last_error?: string;
  health: string;
  started_at?: string;
  next_restart_in_ms?: number;
  selinux?: WireSelinux | null;
  events: WireUnitEvent[];
  running_image?: string;
  rollout?: WireRollout | null;
  rollout_history?: WireRollout[];
}

export interface WireRollout {
  id: number;
  phase: string;
  outcome: string;
  from: { ref: string; digest: string } | null;
  to: { ref: string; digest: string } | null;
  watch_ms: number;
  started_at: string;
  deadline?: string | null;
  ended_at?: string | null;
  reason?: string | null;
  exit_code?: number | null;
}

export interface WireLogLine {
  at: string;
  stream: string;
  line: string;
}

export interface WireExecStart {
  unit: string;
  args: string[];
  tty: boolean;
  cols: number;
  rows: number;
  env: string[];
}

export type WireExecInput =
  | { input?: 'start'; start: WireExecStart }
  | { input?: 'stdin'; stdin: Uint8Array }
  | { input?: 'resize'; resize: { cols: number; rows: number } }
  | { input?: 'close_stdin'; close_stdin: Record<string, never> };

export type WireExecOutput =
  | { output?: 'stdout'; stdout: Uint8Array }
  | { output?: 'stderr'; stderr: Uint8Array }
  | { output?: 'exit'; exit: { code: number } };

export interface WireDaemonStatus {
  ready: boolean;
  containerd: string;
  message: string;
}

export type WireEvent = { at: string } & (
  | { event?: 'hello'; hello: { units: WireUnit[]; daemon: WireDaemonStatus | null } }
  | { event?: 'unit'; unit: { unit: string; state: string; message: string } }
  | { event?: 'daemon'; daemon: { message: string } }
);

export interface WireHostFacts {
  os: { platform: string; distro: string; release: string; arch: string; hostname: string } | null;
  kernel: string;
  cpu: { manufacturer: string; model: string; cores: number; physical_cores: number; speed: number } | null;
  memory: { total: number; free: number; available: number } | null;
  disks: { name: string; model: string; size: number; removable: boolean }[];
  filesystems: { device: string; type: string; mount: string; size: number; used: number }[];
  selinux: { enabled: boolean; mode: string } | null;
  containerd_version: string;
  warnings: string[];
}

export interface WireVersion {
  berth_version: string;
  containerd_version: string;
  daemon: WireDaemonStatus | null;
}

/** berth.v1.ProcessStatsResponse. */
export interface WireProcessStats {
  rss_bytes: number;
  heap_used_bytes: number;
  heap_total_bytes: number;
  external_bytes: number;
  open_fds: number;
  loop_delay_p50_ms: number;
  loop_delay_p99_ms: number;
  loop_delay_max_ms: number;
  window_ms: number;
  loop_delay_p99_since_start_ms: number;
}

/** berth.v1.PullImageProgress. */
export interface WirePullProgress {
  phase: string;
  message: string;
  bytes_done: number;
  bytes_total: number;
  layers_done: number;
  layers_total: number;
  name: string;
  digest: string;
}

/** berth.v1.WorkloadSpec. */
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

/** berth.v1.Workload. */
export interface WireWorkload {
  spec: WireWorkloadSpec | null;
  runtime: string;
  mcs: string;
  status: WireUnit | null;
}

export interface WireListRequest {
  page_size?: number;
  page_token?: string;
}

export interface WireListResponse {
  workloads: WireWorkload[];
  next_page_token?: string;
}

/** berth.v1.StopProgress. */
export interface WireStopProgress {
  kind: string;
  name: string;
  phase: string;
  signal: string;
  timeout_ms: number;
  elapsed_ms: number;
  exit_code?: number | null;
  message: string;
}
