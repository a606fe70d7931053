// The validated, typed form of a unit file. Keys are camelCase, quantities are
// numbers (milliseconds, bytes) and every class-dependent default is applied,
// so consumers never re-derive defaults (and specHash sees effective values).

export type UnitClass = 'host' | 'bootstrap' | 'workload';
export type RestartPolicy = 'always' | 'on-failure' | 'never';
export type BootstrapMode = 'off' | 'once' | 'always';

export const UNIT_CLASSES: readonly UnitClass[] = ['host', 'bootstrap', 'workload'];
export const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'never'];
export const BOOTSTRAP_MODES: readonly BootstrapMode[] = ['off', 'once', 'always'];

export const BIND_OPTIONS = [
  'ro', 'rw', 'rbind', 'bind', 'nosuid', 'nodev', 'noexec',
  'rshared', 'rslave', 'rprivate', 'shared', 'slave', 'private',
] as const;
export type BindOption = (typeof BIND_OPTIONS)[number];
// Bind and propagation flags mean nothing for a fresh tmpfs, so they are refused there.
export const TMPFS_OPTIONS = ['ro', 'rw', 'nosuid', 'nodev', 'noexec'] as const;
export type TmpfsOption = (typeof TMPFS_OPTIONS)[number];

export interface BindMount {
  type: 'bind';
  /** Host path as written (may contain ".."; the spec builder resolves it). */
  source: string;
  destination: string;
  /** Always contains exactly one of bind/rbind and one of ro/rw (defaults: rbind, ro). */
  options: BindOption[];
}

export interface TmpfsMount {
  type: 'tmpfs';
  destination: string;
  /** Default 64 MiB: an unbounded tmpfs may take half the host's memory. */
  sizeBytes: number;
  /** Default 0o1777 (the kernel's tmpfs default, made explicit). */
  mode: number;
  /** Always contains nosuid and nodev. */
  options: TmpfsOption[];
}

export type UnitMount = BindMount | TmpfsMount;

export interface UnitUser {
  uid: number;
  gid?: number;
}

export interface UnitDevice {
  path: string;
  /** Non-empty subset of "rwm" in that order. */
  permissions: string;
}

export interface UnitResources {
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
}

export interface UnitHealth {
  command: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  retries: number;
}

export interface UnitStop {
  /** Canonical "SIG…" name; undefined = the image's stop signal, else SIGTERM. */
  signal?: string;
  timeoutMs: number;
}

export interface UnitBootstrap {
  mode: BootstrapMode;
  essential: boolean;
  /** Bootstrap units run sorted by (order, name); default 0. */
  order: number;
}

/** How an image change of a running host unit is applied: a guarded rollout (src/supervisor/rollout.ts). */
export interface UnitRollout {
  /**
   * How long the new image must stay running (and healthy, with a health check) before it is kept; for a
   * bootstrap unit, how long it may take to exit 0. Absent: the class's default (src/supervisor/rollout.ts).
   */
  watchMs?: number;
  /** false: an image change is a plain stop and start, with no watch and no rollback. */
  guard: boolean;
}

export interface UnitSpec {
  name: string;
  class: UnitClass;
  description: string;
  image: string;
  /** Replaces the image entrypoint. When set without `args`, the image cmd is not used. */
  command?: string[];
  /** Replaces the image cmd. */
  args?: string[];
  env: Record<string, string>;
  workingDir?: string;
  user?: UnitUser;
  superpowered: boolean;
  mounts: UnitMount[];
  /** Base64 as written; decoded size ≤ 16 KiB. Only with persistent storage. */
  userData?: string;
  /** Default true for host and bootstrap units; workloads may not have it. */
  persistentStorage: boolean;
  /** Canonical CAP_ names, deduplicated, sorted. `drop` may contain "ALL". */
  capabilities: { add: string[]; drop: string[] };
  devices: UnitDevice[];
  /** Defaults: host = host network, own PID (host PID when superpowered); bootstrap = both host; workload = neither. */
  namespaces: { hostNetwork: boolean; hostPid: boolean };
  resources: UnitResources;
  restart: { policy: RestartPolicy };
  dependsOn: string[];
  health?: UnitHealth;
  stop: UnitStop;
  /** Present exactly when class is "bootstrap". */
  bootstrap?: UnitBootstrap;
  /** Only when the unit file or its settings say it; absent = DEFAULT_ROLLOUT. Not part of specHash. */
  rollout?: UnitRollout;
}

export const USER_DATA_MAX_BYTES = 16 * 1024;
export const DEFAULT_TMPFS_SIZE = 64 * 1024 * 1024;
export const DEFAULT_TMPFS_MODE = 0o1777;
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
export const DEFAULT_STOP_TIMEOUT_MS = 20_000;
export const DEFAULT_HEALTH = { intervalMs: 10_000, timeoutMs: 5_000, startPeriodMs: 0, retries: 3 } as const;
export const DEFAULT_ROLLOUT: Required<UnitRollout> = { watchMs: 30_000, guard: true };
