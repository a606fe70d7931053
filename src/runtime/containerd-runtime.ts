import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerdClient } from '../containerd/client.js';
import { ContainerLifecycle } from '../containerd/lifecycle.js';
import { isAlreadyExists, isNotFound, isUnavailable } from '../containerd/errors.js';
import { attachStdio, prepareStdio } from '../containerd/stdio.js';
import { subscribeEvents } from '../containerd/events.js';
import type { Mount } from '../containerd/types.js';
import type { OciSpec } from '../ocispec/types.js';
import { AlreadyExistsError, NotFoundError, RuntimeUnavailableError } from './errors.js';
import { LABELS, type ExecHandle, type ImageSource, type LogSink, type ManagedContainer, type Runtime, type RuntimeEvent, type RunningTask, type StartGuard } from './types.js';

const STATUS: Record<string, NonNullable<ManagedContainer['task']>['status']> = {
  RUNNING: 'running', STOPPED: 'stopped', CREATED: 'created', PAUSED: 'paused', PAUSING: 'paused', UNKNOWN: 'unknown',
};

/**
 * containerd's errors as the runtime's (same message, the original as `cause`), so no caller needs
 * containerd's classes; the kinds nobody branches on pass through as they are.
 */
function toRuntimeError(e: unknown): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (isUnavailable(e)) return new RuntimeUnavailableError(message, { cause: e });
  if (isNotFound(e)) return new NotFoundError(message, { cause: e });
  if (isAlreadyExists(e)) return new AlreadyExistsError(message, { cause: e });
  return e;
}

/** Where a ContainerdRuntime keeps things on the host (both under berth's run dir). */
export interface ContainerdRuntimeDirs {
  /** Task stdio FIFOs: `<fifo>/<namespace>/<id>`. */
  fifo: string;
  /** runc's state root for the tasks this runtime creates: `<runc>/<namespace>/<id>` (runc-root.ts). */
  runc: string;
}

/**
 * berth's layout under its run dir: `<run dir>/fifo` and `<run dir>/runc` (README, berthd). Absolute even for
 * a relative --run-dir: the shim and runc do not run in berthd's working directory.
 */
export function containerdRuntimeDirs(runDir: string): ContainerdRuntimeDirs {
  return { fifo: path.resolve(runDir, 'fifo'), runc: path.resolve(runDir, 'runc') };
}

/**
 * containerd backend. Task stdio goes through FIFOs under `<run dir>/fifo/<namespace>/<id>`: they live in
 * the shim as long as the task does, so a restarted berthd re-opens them and reads what the container
 * wrote meanwhile (the pipe holds it; the container blocks rather than lose output). runc keeps its state
 * under a root of berth's own, never containerd's shared default.
 * `ociRuntime` names the OCI runtime the shim runs (`runc`, `crun` or an absolute path; the setting
 * oci-runtime.binary), read at each create: a container keeps the one it was created with.
 */
export class ContainerdRuntime implements Runtime {
  readonly name = 'containerd';
  readonly lifecycle: ContainerLifecycle;
  /** What create() made, for the start that follows: the labelled rootfs mounts and the runtime binary. */
  private readonly created = new Map<string, { mounts: Mount[]; binary: string }>();
  private readonly fifoRoot: string;

  constructor(
    readonly client: ContainerdClient,
    readonly namespace: string,
    dirs: ContainerdRuntimeDirs,
    private readonly logs: LogSink,
    readonly images: ImageSource,
    private readonly ociRuntime: () => string = () => 'runc',
  ) {
    this.fifoRoot = dirs.fifo;
    this.lifecycle = new ContainerLifecycle(client, namespace, dirs.runc);
  }

  private fifoDir(id: string): string {
    return path.join(this.fifoRoot, this.namespace, id);
  }

  private get poolDir(): string {
    return path.join(this.fifoRoot, '.pool');
  }

  async listManaged(): Promise<ManagedContainer[]> {
    try {
      const [containers, tasks] = await Promise.all([
        this.client.listContainers([`labels."${LABELS.unit}"`], { namespace: this.namespace }),
        this.client.listTasks({ namespace: this.namespace }),
      ]);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      return containers.map((c) => {
        const t = byId.get(c.id);
        return { id: c.id, labels: c.labels, task: t ? { pid: t.pid, status: STATUS[t.status] ?? 'unknown', exitStatus: t.exit_status } : undefined };
      });
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async create(id: string, image: string, spec: OciSpec, labels: Record<string, string>, parent?: string): Promise<void> {
    try {
      // runc is the shim's own default: left out of the options, as berth always sent them.
      const configured = this.ociRuntime();
      const binary = configured === 'runc' ? '' : configured;
      const { mounts } = await this.lifecycle.create({ id, image, spec, labels, parent, runtimeBinary: binary });
      this.created.set(id, { mounts, binary });
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  private waitFor(id: string): Promise<{ exitCode: number; at: Date }> {
    return this.lifecycle.wait(id).then(
      (r) => ({ exitCode: r.exitStatus, at: r.exitedAt ?? new Date() }),
      (e: unknown) => {
        throw toRuntimeError(e);
      },
    );
  }

  async start(id: string, unit: string, guard?: StartGuard): Promise<RunningTask> {
    try {
      const made = this.created.get(id);
      this.created.delete(id);
      await guard?.beforeTaskCreate();
      const created = await this.lifecycle.createTask(id, { kind: 'fifo', dir: this.fifoDir(id), poolDir: this.poolDir }, made?.mounts, made?.binary);
      try {
        // The task exists, runc has mounted, the process has not run yet: refuse here and nothing ran.
        await guard?.afterTaskCreate(created.pid, false);
      } catch (e) {
        created.stdio?.close();
        await this.client.deleteTask(id, { namespace: this.namespace }).catch(() => undefined);
        throw e;
      }
      if (created.stdio) {
        this.logs.attach(unit, 'stdout', created.stdio.stdout);
        if (created.stdio.stderr) this.logs.attach(unit, 'stderr', created.stdio.stderr);
      }
      const exited = this.waitFor(id);
      exited.catch(() => undefined);
      try {
        await this.lifecycle.start(id);
      } catch (e) {
        created.stdio?.close();
        await this.client.deleteTask(id, { namespace: this.namespace }).catch(() => undefined);
        throw e;
      }
      return { pid: created.pid, exited };
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async adopt(id: string, unit: string): Promise<RunningTask> {
    try {
      const task = await this.client.getTask(id, '', { namespace: this.namespace });
      if (task.stdout && !task.stdout.startsWith('file://') && !task.stdout.startsWith('binary://')) {
        const stdio = attachStdio({ stdin: '', stdout: task.stdout, stderr: task.stderr, terminal: task.terminal });
        this.logs.attach(unit, 'stdout', stdio.stdout);
        if (stdio.stderr) this.logs.attach(unit, 'stderr', stdio.stderr);
      }
      const exited = this.waitFor(id);
      exited.catch(() => undefined);
      return { pid: task.pid, exited };
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async rewait(id: string): Promise<RunningTask> {
    try {
      const task = await this.client.getTask(id, '', { namespace: this.namespace });
      const exited = this.waitFor(id);
      exited.catch(() => undefined);
      return { pid: task.pid, exited };
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async taskState(id: string): Promise<ManagedContainer['task'] | undefined> {
    try {
      const t = await this.lifecycle.task(id);
      return t ? { pid: t.pid, status: STATUS[t.status] ?? 'unknown', exitStatus: t.exit_status } : undefined;
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async signal(id: string, signal: number): Promise<void> {
    try {
      await this.lifecycle.kill(id, signal, { all: signal === 9 });
    } catch (e) {
      if (isNotFound(e)) return;
      throw toRuntimeError(e);
    }
  }

  async remove(id: string): Promise<void> {
    this.created.delete(id);
    try {
      await this.lifecycle.remove(id);
    } catch (e) {
      throw toRuntimeError(e);
    }
    await rm(this.fifoDir(id), { recursive: true, force: true });
  }

  async exec(id: string, args: string[], opts: { tty: boolean; stdin: boolean; env?: string[] }): Promise<ExecHandle> {
    const execId = `exec-${randomBytes(6).toString('hex')}`;
    const dir = path.join(this.fifoDir(id), 'exec');
    try {
      const started = await this.lifecycle.exec(id, execId, args, { kind: 'fifo', dir, stdin: opts.stdin, terminal: opts.tty, poolDir: this.poolDir }, { env: opts.env });
      const call = { namespace: this.namespace };
      return {
        pid: started.pid,
        stdin: started.stdio.stdin,
        stdout: started.stdio.stdout,
        stderr: started.stdio.stderr,
        exited: started.exited.then((r) => r.exitStatus),
        resize: (cols, rows) => this.client.resizePty(id, execId, cols, rows, call),
        closeStdin: async () => {
          started.stdio.stdin?.end();
          await this.client.closeIO(id, execId, call);
        },
        kill: () => this.lifecycle.kill(id, 9, { execId }),
        cleanup: async () => {
          started.stdio.close();
          await this.lifecycle.deleteExec(id, execId, dir);
        },
      };
    } catch (e) {
      await prepareStdio({ kind: 'null' }, execId);
      throw toRuntimeError(e);
    }
  }

  async *watch(signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
    const filters = [`namespace==${this.namespace},topic=="/tasks/exit"`, `namespace==${this.namespace},topic=="/tasks/oom"`];
    for await (const item of subscribeEvents(this.client, filters, signal)) {
      if (item.kind !== 'event') {
        yield item.kind === 'resync' ? { kind: 'resync' } : { kind: 'disconnected', reason: item.reason };
        continue;
      }
      const p = item.payload ?? {};
      const id = String(p.container_id ?? '');
      if (item.topic === '/tasks/oom') yield { kind: 'oom', id };
      // Only the init process: exec exits carry the exec id.
      else if (item.topic === '/tasks/exit' && p.id === id) yield { kind: 'exit', id, exitCode: Number(p.exit_status ?? 255) };
    }
  }
}
