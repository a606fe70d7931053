/**
 * The supervisor's public surface: what the API server (src/api) and the daemon wiring use. The API never
 * reaches past these types into the supervisor's internals.
 */
import type { Readable, Writable } from 'node:stream';
import type { UnitClass } from '../units/types.js';
import type { SpecPlan } from '../ocispec/plan.js';
export type { Rollout, RolloutOutcome, RolloutPhase, RolloutImage } from './rollout-state.js';

export type { UnitClass };

/** Explicit per-unit states (Talos-style). */
export type UnitState =
  | 'waiting' // dependencies not yet running and healthy, or bootstrap not done
  | 'preparing' // image check / import / pull
  | 'starting'
  | 'running'
  | 'stopping'
  | 'stopped' // stopped on request, or disabled; stays so
  | 'exited' // ran to completion (bootstrap, or restart=never/on-failure with exit 0)
  | 'failed' // gave up, or cannot start (bad spec, missing image…)
  | 'backing-off'; // waiting before the next restart

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

/** A rollout as the API shows it (without the bookkeeping: spec hashes, the pinned name). */
export interface RolloutSummary {
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

export interface UnitStatus {
  name: string;
  class: UnitClass;
  state: UnitState;
  desired: 'running' | 'stopped';
  /** What the operator asked for (settings, unit file). */
  image: string;
  /** What runs: differs from `image` during a rollout's pull and after a rollback. `REF@DIGEST` when known. */
  runningImage?: string;
  /** The unit's latest rollout, and its recent ones (oldest first). */
  rollout?: RolloutSummary;
  rolloutHistory?: RolloutSummary[];
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

export interface ExecSession {
  stdin: Writable;
  stdout: Readable;
  /** Absent with a TTY (the terminal merges the streams). */
  stderr?: Readable;
  resize(cols: number, rows: number): Promise<void>;
  /** Ends the process's stdin (close our end + CloseIO). */
  closeStdin(): Promise<void>;
  exitCode: Promise<number>;
}

/**
 * One unit of the desired state, as the supervisor receives it: the spec already planned (settings read,
 * host rules checked; ocispec/plan.ts) and whether it should run. The unit spec is `plan.unit`.
 */
export interface DesiredUnit {
  plan: SpecPlan;
  want: 'running' | 'stopped';
}

export type SupervisorEvent =
  | { kind: 'unit'; unit: string; state: UnitState; message: string; at: string }
  | { kind: 'daemon'; message: string; at: string };

/**
 * What a stop is doing, as it happens: the stop signal sent (and when SIGKILL follows), SIGKILL sent, the
 * task gone (exit code, time since the first signal), or why not. One unit's reports come in that order.
 */
export interface StopProgress {
  unit: string;
  /** signal | kill | stopped | not-running (no task: only its container, if any, removed) | failed */
  phase: 'signal' | 'kill' | 'stopped' | 'not-running' | 'failed';
  /** signal, kill: the signal sent (`SIGTERM`, `SIGKILL`…). */
  signal?: string;
  /** signal: milliseconds from now until SIGKILL, if the task has not exited by then. */
  timeoutMs?: number;
  /** Milliseconds since the stop signal (0 for `signal` and `not-running`). */
  elapsedMs: number;
  /** stopped: the task's exit status. */
  exitCode?: number;
  /** failed: why; not-running: the unit's state. */
  message?: string;
}

export type StopObserver = (progress: StopProgress) => void;

export interface SupervisorApi {
  list(): UnitStatus[];
  get(name: string): UnitStatus | undefined;
  start(name: string): Promise<UnitStatus>;
  /** Desired stopped until `start` (or, for a host unit, its settings turn it off and on, or berthd restarts). */
  stop(name: string, onProgress?: StopObserver): Promise<UnitStatus>;
  restart(name: string): Promise<UnitStatus>;
  logs(name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine>;
  exec(req: ExecRequest): Promise<ExecSession>;
  events(signal: AbortSignal): AsyncIterable<SupervisorEvent>;
  /** Daemon-wide status line (what sd_notify STATUS= says). */
  status(): { ready: boolean; containerd: 'connected' | 'unavailable'; message: string };
  /**
   * Stop every unit (an explicit API request), as opposed to berthd exiting, which leaves units running, and
   * remove every container of this supervisor's namespace: no task, shim or mount is left. Each unit stays
   * known (and stopped), so `start` runs it again.
   */
  stopAll(onProgress?: StopObserver): Promise<void>;
}
