import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import type { OciSpec } from '../ocispec/types.js';
import { dockerCreateOptions } from './docker-config.js';
import { dockerExec } from './docker-exec.js';
import { Deferred, mapState, parseLines, statusCode, toRuntimeError, type DockerEvent } from './docker-util.js';
import { AlreadyExistsError } from './errors.js';
import { LABELS, type ExecHandle, type ImageSource, type ExitInfo, type LogSink, type ManagedContainer, type Runtime, type RuntimeEvent, type RunningTask, type StartGuard } from './types.js';

/** Pause between attempts to re-subscribe to Docker's events after the stream broke. */
const RECONNECT_MS = 1000;

/**
 * Docker backend (dockerode). Containers are named after their unit and carry berth's labels; exits come
 * from Docker's event stream (one subscription for all containers, resumed with `since` after a break),
 * never from Docker's restart policy, so the supervisor restarts workloads exactly as on containerd.
 * stdout/stderr are attached before start and fed to the unit's log.
 */
export class DockerRuntime implements Runtime {
  readonly name = 'docker';
  private readonly pending = new Map<string, Deferred<ExitInfo>>();
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  private connected: Promise<void> | undefined;
  private stream: NodeJS.ReadableStream | undefined;
  private lastEventNano = 0;
  private closed = false;

  constructor(private readonly docker: Dockerode, readonly namespace: string, private readonly logs: LogSink, readonly images: ImageSource) {}

  // ---- event stream ---------------------------------------------------------------------------------

  private emit(e: RuntimeEvent): void {
    for (const l of this.listeners) l(e);
  }

  private onEvent(ev: DockerEvent): void {
    if (ev.timeNano) this.lastEventNano = Math.max(this.lastEventNano, ev.timeNano);
    const attrs = ev.Actor?.Attributes ?? {};
    const id = attrs.name ?? '';
    if (ev.Type !== 'container' || !id || attrs[LABELS.unit] === undefined) return;
    if (ev.Action === 'oom') this.emit({ kind: 'oom', id });
    else if (ev.Action === 'die') {
      const exitCode = Number(attrs.exitCode ?? 255);
      const at = ev.timeNano ? new Date(Math.floor(ev.timeNano / 1e6)) : new Date();
      const d = this.pending.get(id);
      this.pending.delete(id);
      d?.resolve({ exitCode, at });
      this.emit({ kind: 'exit', id, exitCode });
    }
  }

  /** Subscribed to Docker's events (resolves once Docker has the subscription). */
  private ensureEvents(): Promise<void> {
    this.connected ??= this.subscribe().catch((e: unknown) => {
      this.connected = undefined;
      throw toRuntimeError(e);
    });
    return this.connected;
  }

  private async subscribe(): Promise<void> {
    const since = this.lastEventNano > 0 ? `${Math.floor(this.lastEventNano / 1e9)}.${String(this.lastEventNano % 1e9).padStart(9, '0')}` : undefined;
    const stream = await this.docker.getEvents({
      filters: { type: ['container'], event: ['die', 'oom'], label: [LABELS.unit] },
      ...(since ? { since } : {}),
    } as Dockerode.GetEventsOptions);
    this.stream = stream;
    parseLines(stream, (e) => this.onEvent(e));
    const broken = (reason: string): void => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.connected = undefined;
      if (this.closed) return;
      this.emit({ kind: 'disconnected', reason });
      void this.reconnect();
    };
    stream.on('end', () => broken('docker event stream ended'));
    stream.on('error', (e: Error) => broken(`docker event stream failed: ${e.message}`));
  }

  private async reconnect(): Promise<void> {
    while (!this.closed) {
      await new Promise((r) => setTimeout(r, RECONNECT_MS).unref());
      try {
        await this.ensureEvents();
        await this.recheckPending();
        this.emit({ kind: 'resync' });
        return;
      } catch {
        /* still down */
      }
    }
  }

  /** After a break: a container that exited unseen resolves its wait from its inspect data. */
  private async recheckPending(): Promise<void> {
    await Promise.all([...this.pending.keys()].map(async (id) => {
      const t = await this.taskState(id).catch(() => undefined);
      if (t?.status === 'running') return;
      const d = this.pending.get(id);
      this.pending.delete(id);
      d?.resolve({ exitCode: t?.exitStatus ?? 255, at: new Date() });
    }));
  }

  private expect(id: string): Deferred<ExitInfo> {
    let d = this.pending.get(id);
    if (!d) this.pending.set(id, (d = new Deferred<ExitInfo>()));
    return d;
  }

  async *watch(signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
    const queue: RuntimeEvent[] = [];
    let wake: (() => void) | undefined;
    const listener = (e: RuntimeEvent): void => {
      queue.push(e);
      wake?.();
    };
    this.listeners.add(listener);
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.ensureEvents().catch((e: unknown) => {
        queue.push({ kind: 'disconnected', reason: String((e as Error).message ?? e) });
        void this.reconnect();
      });
      while (!signal.aborted) {
        while (queue.length) yield queue.shift()!;
        if (signal.aborted) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.listeners.delete(listener);
      signal.removeEventListener('abort', onAbort);
      if (this.listeners.size === 0) this.close();
    }
  }

  /** Ends the event subscription (berthd exiting). */
  close(): void {
    this.closed = true;
    const s = this.stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
    this.stream = undefined;
    s?.destroy?.();
  }

  // ---- containers -----------------------------------------------------------------------------------

  async listManaged(): Promise<ManagedContainer[]> {
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: [LABELS.unit] } });
      return await Promise.all(list.map(async (c) => {
        const id = (c.Names[0] ?? c.Id).replace(/^\//, '');
        const task = c.State === 'running' ? await this.taskState(id) : { pid: 0, status: mapState(c.State) };
        return { id, labels: c.Labels ?? {}, ...(task ? { task } : {}) };
      }));
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async create(id: string, image: string, spec: OciSpec, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.createContainer(dockerCreateOptions(id, image, spec, labels));
    } catch (e) {
      if (statusCode(e) === 409) throw new AlreadyExistsError(`docker: container ${id} already exists`, { cause: e });
      throw toRuntimeError(e);
    }
  }

  /** stdout/stderr of the container into the unit's log (Docker multiplexes them without a TTY). */
  private async attachLogs(id: string, unit: string): Promise<NodeJS.ReadableStream> {
    const stream = await this.docker.getContainer(id).attach({ stream: true, stdout: true, stderr: true, logs: false });
    const out = new PassThrough();
    const err = new PassThrough();
    this.docker.modem.demuxStream(stream, out, err);
    stream.on('end', () => {
      out.end();
      err.end();
    });
    stream.on('error', () => {
      out.end();
      err.end();
    });
    this.logs.attach(unit, 'stdout', out);
    this.logs.attach(unit, 'stderr', err);
    return stream;
  }

  async start(id: string, unit: string, guard?: StartGuard): Promise<RunningTask> {
    try {
      await this.ensureEvents();
      // Docker's start is when runc mounts: the last moment to re-check host paths before it.
      await guard?.beforeTaskCreate();
      const attached = await this.attachLogs(id, unit);
      const d = this.expect(id);
      try {
        await this.docker.getContainer(id).start();
      } catch (e) {
        this.pending.delete(id);
        (attached as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        throw e;
      }
      const t = await this.taskState(id);
      if (guard) {
        try {
          // Create and start are one call here: the process already runs, so a mismatch kills it at once.
          await guard.afterTaskCreate(t?.pid ?? 0, true);
        } catch (e) {
          await this.signal(id, 9).catch(() => undefined);
          this.pending.delete(id);
          throw e;
        }
      }
      return { pid: t?.pid ?? 0, exited: d.promise };
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  private async waitAgain(id: string): Promise<RunningTask> {
    await this.ensureEvents();
    const d = this.expect(id);
    const t = await this.taskState(id);
    if (t?.status !== 'running') {
      this.pending.delete(id);
      d.resolve({ exitCode: t?.exitStatus ?? 255, at: new Date() });
    }
    return { pid: t?.pid ?? 0, exited: d.promise };
  }

  async adopt(id: string, unit: string): Promise<RunningTask> {
    try {
      await this.attachLogs(id, unit);
      return await this.waitAgain(id);
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async rewait(id: string): Promise<RunningTask> {
    try {
      return await this.waitAgain(id);
    } catch (e) {
      throw toRuntimeError(e);
    }
  }

  async taskState(id: string): Promise<ManagedContainer['task'] | undefined> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return { pid: info.State.Pid, status: mapState(info.State.Status), exitStatus: info.State.ExitCode };
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw toRuntimeError(e);
    }
  }

  async signal(id: string, signal: number): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal: String(signal) });
    } catch (e) {
      const code = statusCode(e);
      if (code === 404 || code === 409) return; // gone, or not running
      throw toRuntimeError(e);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      const code = statusCode(e);
      if (code === 404 || code === 409) return; // gone, or removal already in progress
      throw toRuntimeError(e);
    }
  }

  exec(id: string, args: string[], opts: { tty: boolean; stdin: boolean; env?: string[] }): Promise<ExecHandle> {
    return dockerExec(this.docker, id, args, opts).catch((e: unknown) => {
      throw toRuntimeError(e);
    });
  }
}
