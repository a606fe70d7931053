import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rm, readFile, readdir } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ContainerdClient } from '../../src/containerd/client.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { waitFor, processAlive } from './wait.js';

/**
 * A private containerd for tests: own root, state and socket under one temp dir, CRI disabled. `stop()`
 * kills every task it ran, stops containerd by PID, kills shims that still point at our socket (found by
 * PID through /proc), unmounts anything left under the dir and removes it.
 */
export class TestContainerd {
  private child: ChildProcess | undefined;
  private constructor(readonly dir: string) {}

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

  static async start(): Promise<TestContainerd> {
    // Short path: unix socket paths are limited to 108 bytes.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bctd-'));
    const t = new TestContainerd(dir);
    await writeFile(path.join(dir, 'config.toml'), configToml(t));
    await t.launch();
    return t;
  }

  /** Starts containerd on the same dirs (used after `kill()` to simulate a restart). */
  async launch(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    this.child = spawn('containerd', ['--config', path.join(this.dir, 'config.toml')], { stdio: ['ignore', log, log] });
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

  /** Shim PIDs whose command line names our socket. */
  async shimPids(): Promise<number[]> {
    const pids: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes('containerd-shim') && cmd.includes(this.socket)) pids.push(Number(entry));
    }
    return pids;
  }

  /** Mount points under our dir (overlay rootfs of tasks that did not get deleted). */
  async mountsUnder(): Promise<string[]> {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    return info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(this.dir)).sort((a, b) => b.length - a.length);
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const client = this.client();
      try {
        for (const ns of await client.listNamespaces().catch(() => [])) {
          const lc = new ContainerLifecycle(client, ns.name);
          for (const c of await client.listContainers([], { namespace: ns.name }).catch(() => [])) await lc.remove(c.id).catch(() => undefined);
        }
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
    for (const m of await this.mountsUnder()) {
      await new Promise((r) => spawn('umount', ['-l', m], { stdio: 'ignore' }).once('exit', r));
    }
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
