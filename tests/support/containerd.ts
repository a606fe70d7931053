import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm, readFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ContainerdClient } from '../../src/containerd/client.js';
import { waitFor, processAlive } from './wait.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { forceDeleteRuncState, removeAllContainers, shimPidsOf, unmountUnder } from './cleanup.js';

/**
 * A private containerd for tests: own root, state and socket under one temp dir, CRI disabled. `stop()`
 * kills every task it ran, stops containerd by PID, kills shims that still point at our socket (found by
 * PID through /proc), unmounts anything left under the dir and removes it.
 */
export class TestContainerd {
  private child: ChildProcess | undefined;
  private constructor(readonly dir: string, private readonly pathPrefix?: string) {}

  get socket(): string {
    return path.join(this.dir, 'c.sock');
  }
  get root(): string {
    return path.join(this.dir, 'root');
  }
  get state(): string {
    return path.join(this.dir, 'state');
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get logFile(): string {
    return path.join(this.dir, 'containerd.log');
  }
  /** runc's state root for the containers tests create on this containerd (never the host's shared one). */
  get runcRoot(): string {
    return path.join(this.dir, 'runc');
  }

  /**
   * `pathPrefix` goes in front of containerd's PATH, which its shims inherit (e.g. a wrapping `runc`).
   * `rootTmpfs` (e.g. "64m") puts containerd's root on a tmpfs of that size, mounted here and unmounted by
   * stop() (everything mounted under the dir is).
   */
  static async start(opts: { pathPrefix?: string; rootTmpfs?: string } = {}): Promise<TestContainerd> {
    // Short path: unix socket paths are limited to 108 bytes.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bctd-'));
    const t = new TestContainerd(dir, opts.pathPrefix);
    await writeFile(path.join(dir, 'config.toml'), configToml(t));
    if (opts.rootTmpfs) {
      await mkdir(t.root, { recursive: true });
      const rc = await new Promise<number | null>((r) => spawn('mount', ['-t', 'tmpfs', '-o', `size=${opts.rootTmpfs}`, 'tmpfs', t.root], { stdio: 'ignore' }).once('exit', r));
      if (rc !== 0) {
        await rm(dir, { recursive: true, force: true });
        throw new Error(`mount -t tmpfs on ${t.root} failed (${rc})`);
      }
    }
    try {
      await t.launch();
    } catch (e) {
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    return t;
  }

  /** Starts containerd on the same dirs (used after `kill()` to simulate a restart). */
  async launch(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    const env = this.pathPrefix ? { ...process.env, PATH: `${this.pathPrefix}:${process.env.PATH ?? ''}` } : process.env;
    this.child = spawn('containerd', ['--config', path.join(this.dir, 'config.toml')], { stdio: ['ignore', log, log], env });
    closeSync(log);
    const client = ContainerdClient.connect(this.socket);
    try {
      await waitFor(async () => {
        if (this.child?.exitCode !== null) throw new Error(`containerd exited: ${await readFile(this.logFile, 'utf8').catch(() => '')}`);
        try {
          await client.version({ timeoutMs: 500 });
          return true;
        } catch {
          return false;
        }
      }, 20_000, 'containerd to answer Version');
    } finally {
      client.close();
    }
  }

  /** SIGKILL containerd (shims and their tasks live on). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  client(namespace = 'berth-test'): ContainerdClient {
    return ContainerdClient.connect(this.socket, namespace);
  }

  /** A lifecycle in `namespace` whose tasks keep their runc state under this containerd's dir. */
  lifecycle(client: ContainerdClient, namespace: string = client.namespace): ContainerLifecycle {
    return new ContainerLifecycle(client, namespace, this.runcRoot);
  }

  /** Shim PIDs whose command line names our socket. */
  shimPids(): Promise<number[]> {
    return shimPidsOf(this.socket);
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const client = this.client();
      try {
        await removeAllContainers(client);
      } finally {
        client.close();
      }
      const child = this.child;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    for (const pid of await this.shimPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await waitFor(() => !processAlive(pid), 5000, `shim ${pid} to exit`).catch(() => undefined);
    }
    await forceDeleteRuncState(this.runcRoot);
    await unmountUnder(this.dir);
    await rm(this.dir, { recursive: true, force: true });
  }
}

function configToml(t: TestContainerd): string {
  return `version = 2
root = "${t.root}"
state = "${t.state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "${t.socket}"

[ttrpc]
  address = "${t.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${path.join(t.dir, 'opt')}"
`;
}
