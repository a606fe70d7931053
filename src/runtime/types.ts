import type { Readable, Writable } from 'node:stream';
import type { ImageConfig, OciSpec } from '../ocispec/types.js';

/** Labels berth puts on every container it creates; adoption and garbage collection key on them. */
export const LABELS = {
  unit: 'berth.unit',
  class: 'berth.class',
  specHash: 'berth.spec-hash',
  selinuxProcess: 'berth.selinux.process-label',
  selinuxMount: 'berth.selinux.mount-label',
  selinuxApplied: 'berth.selinux.applied',
  /** The digest of the image the container was made from (a rollout's "previous" is exactly these bytes). */
  imageDigest: 'berth.image-digest',
} as const;

export interface ManagedContainer {
  id: string;
  labels: Record<string, string>;
  task?: { pid: number; status: 'running' | 'stopped' | 'created' | 'paused' | 'unknown'; exitStatus?: number };
}

export interface ExitInfo {
  exitCode: number;
  at: Date;
  oom?: boolean;
}

/** A started (or adopted) task: its pid and a promise for its exit. */
export interface RunningTask {
  pid: number;
  exited: Promise<ExitInfo>;
}

export interface ExecHandle {
  pid: number;
  stdin?: Writable;
  stdout: Readable;
  stderr?: Readable;
  exited: Promise<number>;
  resize(cols: number, rows: number): Promise<void>;
  closeStdin(): Promise<void>;
  kill(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Where a backend sends a container's output: the unit's log. Declared with the runtime so a backend
 * needs nothing from whoever keeps the logs (the supervisor's LogStore implements it).
 */
export interface LogSink {
  /** Read `source` until it ends, as the unit's `stream` output. */
  attach(unit: string, stream: 'stdout' | 'stderr', source: Readable): void;
}

/** An image ready to run: its config (for the spec) and top snapshot (the container's rootfs parent). */
export interface PreparedImage {
  config: ImageConfig;
  snapshotParent: string;
  /** The image's digest when the engine knows it (containerd: the image record's target). */
  digest?: string;
}

/**
 * Where a backend gets its images (images/image-service.ts on containerd, workloads/docker-images.ts on
 * Docker): declared here so a backend depends on nothing above it.
 */
export interface ImageSource {
  /** Import or pull `ref` if needed. `signal` aborts the wait (the unit was stopped or removed meanwhile). */
  ensure(ref: string, onProgress?: (message: string) => void, signal?: AbortSignal): Promise<PreparedImage>;
  /** Forget what `ensure` cached for `ref` (a create found the image gone). */
  forget(ref: string): void;
  /** Record the image of `digest` under `name` as well (kept, and run by digest); absent on Docker. */
  pin?(digest: string, name: string): Promise<void>;
}

export type RuntimeEvent =
  | { kind: 'exit'; id: string; exitCode: number }
  | { kind: 'oom'; id: string }
  | { kind: 'disconnected'; reason: string }
  /** The engine answers again after a break: state may have changed unseen; re-check every task. */
  | { kind: 'resync' };

/**
 * Checks run around the moment runc mounts a container's filesystems (see host-path-guard.ts). A throw
 * refuses the start: the backend deletes what it created and rethrows.
 */
export interface StartGuard {
  /** Right before the task is created (containerd Tasks.Create, Docker container start). */
  beforeTaskCreate(): Promise<void>;
  /**
   * Once runc made the mounts: before the process runs on containerd (`started` false), right after it
   * started on Docker (`started` true: it may even have exited already).
   */
  afterTaskCreate(pid: number, started: boolean): Promise<void>;
}

/**
 * What the supervisor needs from a container engine: containerd-runtime.ts implements it with berth's own
 * client, docker-runtime.ts with dockerode (workloads.runtime = "docker"). Backends throw the errors of
 * ./errors.ts, never their engine's.
 */
export interface Runtime {
  readonly name: string;
  readonly namespace: string;
  listManaged(): Promise<ManagedContainer[]>;
  /** The engine's images: a start makes sure its image is there before it builds the spec. */
  readonly images: ImageSource;
  /** `parent`: the image's top snapshot when known (from images.ensure). */
  create(id: string, image: string, spec: OciSpec, labels: Record<string, string>, parent?: string): Promise<void>;
  /** Starts the task with stdout/stderr flowing into the unit's log; `guard` may refuse it. */
  start(id: string, unit: string, guard?: StartGuard): Promise<RunningTask>;
  /** Re-attach to a running task: re-open its log streams and wait on it again. */
  adopt(id: string, unit: string): Promise<RunningTask>;
  /** Only wait again (after a containerd restart); log streams are untouched. */
  rewait(id: string): Promise<RunningTask>;
  signal(id: string, signal: number): Promise<void>;
  remove(id: string): Promise<void>;
  exec(id: string, args: string[], opts: { tty: boolean; stdin: boolean; env?: string[] }): Promise<ExecHandle>;
  taskState(id: string): Promise<ManagedContainer['task'] | undefined>;
  /** The engine's event stream, surviving restarts of the engine, until `signal` aborts. */
  watch(signal: AbortSignal): AsyncIterable<RuntimeEvent>;
}
