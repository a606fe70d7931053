import { rm } from 'node:fs/promises';
import type { ContainerdClient } from './client.js';
import { isAlreadyExists, isNotFound, isUnavailable } from './errors.js';
import { jsonAny, decodeJsonAny, SPEC_TYPE_URL, PROCESS_TYPE_URL, type AnyMessage } from './codec.js';
import { runcBinaryOf, runcOptions } from './runc-root.js';
import { ImageReader, type ResolvedImage } from './image-manifest.js';
import { DEFAULT_SNAPSHOTTER, snapshotExists } from './unpack.js';
import { prepareStdio, attachStdio, type StdioSpec, type AttachedStdio } from './stdio.js';
import { specMountLabel, withRootfsMountLabel } from './rootfs-label.js';
import type { Container, Mount, Process, WaitResult } from './types.js';
import { timestampToDate } from './types.js';

export const RUNC_V2 = 'io.containerd.runc.v2';

export interface NewContainer {
  id: string;
  /** Image name as recorded in containerd's image store. */
  image: string;
  /** OCI runtime spec (JSON-serialisable). */
  spec: object;
  labels?: Record<string, string>;
  snapshotter?: string;
  /** The image's top chain id when the caller knows it already (saves resolving the image again). */
  parent?: string;
  /** The OCI runtime binary the shim runs for it (`crun`, an absolute path); empty or absent: runc. */
  runtimeBinary?: string;
}

export class ImageNotUnpackedError extends Error {
  constructor(readonly image: string, readonly chainId: string) {
    super(`image ${image} is not unpacked (snapshot ${chainId} missing); import or pull it again`);
    this.name = 'ImageNotUnpackedError';
  }
}

/**
 * Container lifecycle on top of the raw client: create from an image, run tasks with their stdio,
 * wait, kill, exec, and delete in the one order that leaks nothing (task, snapshot, container).
 * `runcRoot` is where runc keeps the state of the tasks this creates (see runc-root.ts); a lifecycle
 * without one can inspect, kill and remove containers but refuses to create any.
 */
export class ContainerLifecycle {
  readonly images: ImageReader;
  /** Encoded once per runtime binary ('' = runc): every create and task create with it sends the same bytes. */
  private readonly runtimeOptions = new Map<string, AnyMessage>();
  constructor(readonly client: ContainerdClient, readonly namespace: string = client.namespace, readonly runcRoot?: string) {
    this.images = new ImageReader(client);
  }

  private options(binary: string): AnyMessage {
    if (this.runcRoot === undefined) throw new Error(`ContainerLifecycle(${this.namespace}) has no runc root: pass one to create containers or tasks`);
    let options = this.runtimeOptions.get(binary);
    if (!options) this.runtimeOptions.set(binary, (options = runcOptions(this.runcRoot, binary)));
    return options;
  }

  private get call(): { namespace: string } {
    return { namespace: this.namespace };
  }

  async resolveImage(name: string): Promise<ResolvedImage> {
    const image = await this.client.getImage(name, this.call);
    return this.images.resolve(image.target, this.call);
  }

  /**
   * Container record first, then its snapshot from the image's top chain id. The record references the
   * snapshot key before the snapshot exists, so GC can never collect it and no lease is needed (saving
   * two round trips per start); a failed Prepare deletes the record again.
   * The mounts returned are the rootfs as Tasks.Create takes it: with the spec's SELinux mount label.
   */
  async create(req: NewContainer): Promise<{ container: Container; mounts: Mount[] }> {
    const snapshotter = req.snapshotter ?? DEFAULT_SNAPSHOTTER;
    const parent = req.parent ?? (await this.resolveImage(req.image)).chainIds.at(-1) ?? '';
    const container = await this.client.createContainer({
      id: req.id,
      image: req.image,
      labels: req.labels ?? {},
      // Recorded with the container so a task created without options (ctr, an older berth) uses it too.
      runtime: { name: RUNC_V2, options: this.options(req.runtimeBinary ?? '') },
      spec: jsonAny(SPEC_TYPE_URL, req.spec),
      snapshotter,
      snapshot_key: req.id,
    }, this.call);
    try {
      const mounts = await this.client.prepareSnapshot(snapshotter, req.id, parent, {}, this.call);
      return { container, mounts: withRootfsMountLabel(mounts, specMountLabel(req.spec)) };
    } catch (e) {
      await this.client.deleteContainer(req.id, this.call).catch(() => undefined);
      if (isNotFound(e) && parent && !(await snapshotExists(this.client, snapshotter, parent, this.namespace))) throw new ImageNotUnpackedError(req.image, parent);
      throw e;
    }
  }

  async spec<T = Record<string, unknown>>(id: string): Promise<T | undefined> {
    return decodeJsonAny<T>((await this.client.getContainer(id, this.call)).spec);
  }

  /**
   * Create the task with its stdio. For FIFOs our read ends are opened before Tasks.Create (else it blocks).
   * Returns the pid and, for FIFOs, the attached streams. `knownMounts` are create()'s (already labelled);
   * without them the snapshot's mounts are looked up and given the mount label of the container's stored
   * spec, so a task re-created later gets the same rootfs label as the first one.
   * `runtimeBinary` is the one the container was created with (create()'s caller knows it); without it, the
   * one recorded in the container when it is looked up anyway, else runc.
   */
  async createTask(id: string, stdio: StdioSpec, knownMounts?: Mount[], runtimeBinary?: string): Promise<{ pid: number; stdio?: AttachedStdio }> {
    this.options(''); // no runc root: refused before anything is looked up or made
    let rootfs = knownMounts;
    let binary = runtimeBinary;
    if (!rootfs) {
      const container = await this.client.getContainer(id, this.call);
      const mounts = container.snapshot_key ? await this.client.snapshotMounts(container.snapshotter, container.snapshot_key, this.call) : [];
      rootfs = withRootfsMountLabel(mounts, specMountLabel(decodeJsonAny<unknown>(container.spec)));
      binary ??= runcBinaryOf(container.runtime?.options);
    }
    const options = this.options(binary ?? '');
    const paths = await prepareStdio(stdio, id);
    const attached = stdio.kind === 'fifo' ? attachStdio(paths) : undefined;
    // The task's options replace the container's (the shim reads its runc root and binary from them): sent
    // every time, so a container recorded without a root (an older berth made it) gets ours when its task is
    // re-created, and keeps the runtime binary it was created with.
    const request = { container_id: id, rootfs: rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })), ...paths, options };
    try {
      try {
        return { pid: await this.client.createTask(request, this.call), stdio: attached };
      } catch (e) {
        // containerd killed inside Tasks.Create leaves a shim with no container behind; the relaunched
        // containerd re-adopts it, so Create says "already exists" while Get says "not found". Delete that
        // husk and create again, once (chaos suite R2).
        if (!isAlreadyExists(e) || (await this.task(id))) throw e;
        await this.deleteTaskHusk(id);
        return { pid: await this.client.createTask(request, this.call), stdio: attached };
      }
    } catch (e) {
      attached?.close();
      throw e;
    }
  }

  /** Tasks.Delete for a task Tasks.Get cannot see (a shim whose create never finished); not found is fine. */
  private async deleteTaskHusk(id: string): Promise<void> {
    await this.client.deleteTask(id, this.call).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }

  /** Wait is issued before Start (API facts §8.3) so a fast exit is never missed; await the returned promise. */
  wait(id: string, execId = ''): Promise<WaitResult> {
    return this.client.waitTask(id, execId, this.call).then((r) => ({ exitStatus: r.exit_status, exitedAt: timestampToDate(r.exited_at) }));
  }

  start(id: string, execId = ''): Promise<number> {
    return this.client.startTask(id, execId, this.call);
  }

  /** Create + Wait + Start in the right order. */
  async run(id: string, stdio: StdioSpec, knownMounts?: Mount[]): Promise<{ pid: number; exited: Promise<WaitResult>; stdio?: AttachedStdio }> {
    const created = await this.createTask(id, stdio, knownMounts);
    const exited = this.wait(id);
    exited.catch(() => undefined); // the caller may never await it (e.g. detached runs)
    try {
      await this.start(id);
    } catch (e) {
      created.stdio?.close();
      await this.client.deleteTask(id, this.call).catch(() => undefined);
      throw e;
    }
    return { pid: created.pid, exited, stdio: created.stdio };
  }

  kill(id: string, signal: number, opts: { all?: boolean; execId?: string } = {}): Promise<void> {
    return this.client.killTask(id, signal, { ...this.call, ...opts });
  }

  async task(id: string): Promise<Process | undefined> {
    try {
      return await this.client.getTask(id, '', this.call);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Run a process inside a running task with its own stdio. The process spec starts from the container's
   * (env, user, capabilities…) with args, cwd and terminal overridden, as `ctr task exec` does.
   */
  async exec(id: string, execId: string, args: string[], stdio: StdioSpec & { kind: 'fifo' }, overrides: { cwd?: string; env?: string[] } = {}): Promise<{ pid: number; exited: Promise<WaitResult>; stdio: AttachedStdio }> {
    const spec = await this.spec<{ process: Record<string, unknown> }>(id);
    if (!spec) throw new Error(`container ${id} has no spec`);
    const processSpec = { ...spec.process, args, terminal: stdio.terminal ?? false, ...(overrides.cwd ? { cwd: overrides.cwd } : {}), ...(overrides.env ? { env: [...((spec.process.env as string[]) ?? []), ...overrides.env] } : {}) };
    const paths = await prepareStdio(stdio, execId);
    const attached = attachStdio(paths);
    try {
      await this.client.execProcess({ container_id: id, exec_id: execId, ...paths, spec: jsonAny(PROCESS_TYPE_URL, processSpec) }, this.call);
      const exited = this.wait(id, execId);
      exited.catch(() => undefined);
      const pid = await this.start(id, execId);
      return { pid, exited, stdio: attached };
    } catch (e) {
      attached.close();
      await this.client.deleteProcess(id, execId, this.call).catch(() => undefined);
      throw e;
    }
  }

  async deleteExec(id: string, execId: string, fifoDir?: string): Promise<void> {
    await this.client.deleteProcess(id, execId, this.call).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    if (fifoDir) await Promise.all(['stdin', 'stdout', 'stderr'].map((s) => rm(`${fifoDir}/${execId}-${s}`, { force: true })));
  }

  /** Delete the task, killing it first if it still runs; returns its exit status when there was one. */
  async deleteTask(id: string, killTimeoutMs = 10_000): Promise<number | undefined> {
    const task = await this.task(id);
    if (!task) {
      await this.deleteTaskHusk(id);
      return undefined;
    }
    if (task.status === 'RUNNING' || task.status === 'PAUSED' || task.status === 'CREATED' || task.status === 'UNKNOWN') {
      const exited = this.wait(id);
      await this.kill(id, 9, { all: true }).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
      await Promise.race([exited, new Promise((r) => setTimeout(r, killTimeoutMs).unref())]);
    }
    try {
      return (await this.client.deleteTask(id, this.call)).exit_status;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Task, then snapshot, then container record (API facts §8.2): nothing leaks, nothing is orphaned. */
  async remove(id: string): Promise<void> {
    // Right after a containerd restart its shim connections may still be re-established ("ttrpc: closed"):
    // a short bounded retry instead of leaving the task behind.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deleteTask(id);
        break;
      } catch (e) {
        const transient = isUnavailable(e) || (e instanceof Error && /ttrpc: closed/.test(e.message));
        if (!transient || attempt >= 5) throw e;
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      }
    }
    let container: Container | undefined;
    try {
      container = await this.client.getContainer(id, this.call);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (container?.snapshot_key) {
      await this.client.removeSnapshot(container.snapshotter, container.snapshot_key, this.call).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    }
    if (container) {
      await this.client.deleteContainer(id, this.call).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    }
  }
}
