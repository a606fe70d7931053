import { spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { pack } from 'tar-stream';
import { layerTar } from '../../src/images/oci-archive.js';
import { busyboxRootfs } from '../../src/images/busybox-rootfs.js';
import { createHash } from 'node:crypto';
import { processAlive, waitFor } from './wait.js';

/**
 * A private Debian dockerd for tests: its own data root, exec root, pidfile and socket under one temp dir,
 * no bridge and no iptables, and its own containerd (dockerd starts one under the exec root). `stop()`
 * removes its containers, stops it by PID, kills what it left (containerd, shims: found by PID through
 * /proc by our dir in their command line), unmounts leftovers and removes the dir.
 */
export class TestDockerd {
  private child: ChildProcess | undefined;
  private constructor(readonly dir: string) {}

  get socket(): string {
    return path.join(this.dir, 'docker.sock');
  }
  get logFile(): string {
    return path.join(this.dir, 'dockerd.log');
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(): Promise<TestDockerd> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bdk-'));
    const t = new TestDockerd(dir);
    await writeFile(path.join(dir, 'daemon.json'), '{}\n');
    const log = openSync(t.logFile, 'a');
    t.child = spawn('dockerd', [
      '--config-file', path.join(dir, 'daemon.json'),
      '--data-root', path.join(dir, 'data'),
      '--exec-root', path.join(dir, 'exec'),
      '--pidfile', path.join(dir, 'docker.pid'),
      '-H', `unix://${t.socket}`,
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false', '--userland-proxy=false',
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
    const docker = t.client();
    await waitFor(async () => {
      if (t.child?.exitCode !== null) throw new Error(`dockerd exited: ${await readFile(t.logFile, 'utf8').catch(() => '')}`);
      try {
        await docker.ping();
        return true;
      } catch {
        return false;
      }
    }, 60_000, 'dockerd to answer /_ping');
    return t;
  }

  client(): Dockerode {
    return new Dockerode({ socketPath: this.socket });
  }

  /** Loads the busybox test image as `ref` from a docker-save style archive built here. */
  async loadBusybox(ref: string): Promise<void> {
    const archive = await dockerSaveArchive(ref);
    const docker = this.client();
    const out = await docker.loadImage(Readable.from([archive]));
    const text = await new Promise<string>((resolve, reject) => {
      let s = '';
      out.on('data', (c: Buffer) => (s += c.toString()));
      out.on('end', () => resolve(s));
      out.on('error', reject);
    });
    if (text.includes('"error"')) throw new Error(`docker load failed: ${text}`);
    await docker.getImage(ref).inspect();
  }

  /** PIDs whose command line names our dir (dockerd's containerd and its shims). */
  async leftoverPids(): Promise<number[]> {
    const pids: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === this.child?.pid) continue;
      const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(this.dir)) pids.push(Number(entry));
    }
    return pids;
  }

  async mountsUnder(): Promise<string[]> {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    return info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(this.dir)).sort((a, b) => b.length - a.length);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const docker = this.client();
      for (const c of await docker.listContainers({ all: true }).catch(() => [])) {
        await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
      }
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000).unref())]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    for (const pid of await this.leftoverPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await waitFor(() => !processAlive(pid), 5000, `process ${pid} to exit`).catch(() => undefined);
    }
    for (const m of await this.mountsUnder()) {
      await new Promise((r) => spawn('umount', ['-l', m], { stdio: 'ignore' }).once('exit', r));
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** `docker save` format: manifest.json, the config blob and one layer tar, tagged `ref`. */
export async function dockerSaveArchive(ref: string): Promise<Buffer> {
  const layer = await layerTar(busyboxRootfs());
  const diffId = sha256(layer);
  const config = Buffer.from(JSON.stringify({
    created: new Date(0).toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
  }));
  const configName = `${sha256(config)}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [ref], Layers: [`${diffId}/layer.tar`] }]));
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  p.entry({ name: configName }, config);
  p.entry({ name: `${diffId}/layer.tar` }, layer);
  p.entry({ name: 'manifest.json' }, manifest);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}
