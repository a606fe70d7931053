import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { closeSync, openSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContainerd } from './containerd.js';
import { withDeadline, waitFor, processAlive } from './wait.js';
import { ContainerdClient } from '../../src/containerd/client.js';
import { forceDeleteRuncState, removeAllContainers, removeCgroupParent, removeContainersUnder, shimPidsOf, unmountUnder } from './cleanup.js';
import { cgroupParent } from '../../src/ocispec/index.js';

/** The real launcher (V8 flags included), so tests and benchmarks run berthd as a host does. */
const BERTHD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/berthd');
const SETTINGS_DEFAULTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../rootfs/usr/share/berth/settings.toml');
const SHIPPED_UNITS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../rootfs/usr/share/berth/units');

interface DgramSocket {
  bind(path: string): void;
  on(event: 'message', cb: (msg: Buffer) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  close(): void;
}

/** A NOTIFY_SOCKET listener like systemd's: records every sd_notify datagram berthd sends. */
export class NotifyListener {
  readonly messages: string[] = [];
  private readonly socket: DgramSocket;
  private waiters: { match: (m: string) => boolean; resolve: (m: string) => void }[] = [];
  constructor(readonly path: string) {
    const require = createRequire(import.meta.url);
    const unix = require('unix-dgram') as { createSocket(type: 'unix_dgram', cb?: (msg: Buffer) => void): DgramSocket };
    this.socket = unix.createSocket('unix_dgram', (msg: Buffer) => this.onMessage(msg.toString()));
    this.socket.on('error', () => undefined);
    this.socket.bind(path);
  }
  private onMessage(m: string): void {
    this.messages.push(m);
    this.waiters = this.waiters.filter((w) => (w.match(m) ? (w.resolve(m), false) : true));
  }
  /** Resolves with the first message (already received or future) that matches. */
  waitFor(match: (m: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return withDeadline(new Promise<string>((resolve) => this.waiters.push({ match, resolve })), timeoutMs, what);
  }
  private closed = false;
  /** Idempotent: unix-dgram aborts the process on a second close of the same socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

export interface BerthdOptions {
  /** An external test containerd; without it berthd runs its own (--managed-containerd). */
  containerd?: TestContainerd;
  /** Unit TOML files by name, written to a units dir of this instance. */
  units?: Record<string, string>;
  /** Include the shipped rootfs units (admin, control). */
  shippedUnits?: boolean;
  extraArgs?: string[];
  /** Node flags for the berthd process (e.g. --cpu-prof for profiling). */
  nodeArgs?: string[];
}

/**
 * berthd as a child process against a test containerd, with its own state/run dirs and a NOTIFY_SOCKET
 * listener. `kill()` SIGKILLs it (units keep running); `start()` again simulates a restart.
 */
export class TestBerthd {
  child: ChildProcess | undefined;
  notify: NotifyListener | undefined;
  private constructor(readonly dir: string, readonly opts: BerthdOptions) {}

  get stateDir(): string {
    return path.join(this.dir, 'state');
  }
  get runDir(): string {
    return path.join(this.dir, 'run');
  }
  get unitsDir(): string {
    return path.join(this.dir, 'units');
  }
  get settingsDefaults(): string {
    return this.opts.shippedUnits ? SETTINGS_DEFAULTS : path.join(this.dir, 'settings-defaults.toml');
  }
  get socket(): string {
    return path.join(this.runDir, 'api.sock');
  }
  /** berthd's namespace for host containers: `--namespace` of extraArgs, else its default. */
  get namespace(): string {
    const args = this.opts.extraArgs ?? [];
    const i = args.indexOf('--namespace');
    return i >= 0 && args[i + 1] ? args[i + 1]! : 'berth';
  }
  /** Where runc keeps the state of this berthd's containers (berthd's `<run dir>/runc`). */
  get runcRoot(): string {
    return path.join(this.runDir, 'runc');
  }
  get logFile(): string {
    return path.join(this.dir, 'berthd.log');
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async create(opts: BerthdOptions): Promise<TestBerthd> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bd-'));
    const b = new TestBerthd(dir, opts);
    await mkdir(b.unitsDir, { recursive: true });
    for (const [name, text] of Object.entries(opts.units ?? {})) await writeFile(path.join(b.unitsDir, `${name}.toml`), text);
    // Without the shipped units, the shipped defaults (control enabled) would add a control container.
    if (!opts.shippedUnits) await writeFile(b.settingsDefaults, '[settings.selinux]\nmode = "auto"\n');
    return b;
  }

  async writeUnit(name: string, text: string): Promise<void> {
    await writeFile(path.join(this.unitsDir, `${name}.toml`), text);
  }

  /** Start berthd and wait for READY=1 (or for it to exit). */
  async start(timeoutMs = 30_000): Promise<void> {
    this.notify?.close();
    const notifyPath = path.join(this.dir, `notify-${Date.now()}.sock`);
    this.notify = new NotifyListener(notifyPath);
    const unitDirs = [...(this.opts.shippedUnits ? [SHIPPED_UNITS] : []), this.unitsDir].flatMap((d) => ['--units-dir', d]);
    const log = openSync(this.logFile, 'a');
    const containerdArgs = this.opts.containerd ? ['--containerd-socket', this.opts.containerd.socket] : ['--managed-containerd'];
    this.child = spawn(BERTHD, [...containerdArgs, '--state-dir', this.stateDir, '--run-dir', this.runDir, '--settings-defaults', this.settingsDefaults, ...unitDirs, ...(this.opts.extraArgs ?? [])], {
      stdio: ['ignore', log, log],
      env: { ...process.env, NOTIFY_SOCKET: notifyPath, BERTHD_NODE_FLAGS: (this.opts.nodeArgs ?? []).join(' ') },
    });
    closeSync(log);
    const child = this.child;
    const exited = new Promise<string>((resolve) => child.once('exit', (code) => resolve(`berthd exited with ${code}`)));
    const ready = this.notify.waitFor((m) => m.split('\n').includes('READY=1'), timeoutMs, 'berthd READY=1');
    const outcome = await Promise.race([ready.then(() => 'ready'), exited]);
    if (outcome !== 'ready') throw new Error(`${outcome}; log:\n${this.log()}`);
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async signal(sig: NodeJS.Signals): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill(sig);
    return exited;
  }

  kill(): Promise<number | null> {
    return this.signal('SIGKILL');
  }

  get managedSocket(): string {
    return path.join(this.runDir, 'containerd', 'containerd.sock');
  }

  managedContainerdPid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.runDir, 'containerd', 'containerd.pid'), 'utf8').trim());
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Kill berthd (by PID), remove its containers and its dirs. With an external test containerd, the
   * containers whose runc root is this berthd's are removed through it (their runc state lives in our dir,
   * so they cannot be left for the containerd's stop()); with a managed one, all of them, then that
   * containerd and its shims are stopped by PID. runc state still left under the root is force-deleted.
   */
  async stop(): Promise<void> {
    await this.kill();
    this.notify?.close();
    if (this.opts.containerd) {
      const client = ContainerdClient.connect(this.opts.containerd.socket);
      try {
        await removeContainersUnder(client, this.dir);
      } finally {
        client.close();
      }
      await forceDeleteRuncState(this.runcRoot);
      await unmountUnder(this.dir);
    } else {
      await stopManaged(this);
    }
    // Host containers' namespace and the workloads' (src/workloads/wiring.ts).
    for (const ns of [this.namespace, 'berth-workloads']) await removeCgroupParent(cgroupParent(ns, this.runDir));
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function stopManaged(b: TestBerthd): Promise<void> {
  const socket = b.managedSocket;
  const pid = b.managedContainerdPid();
  if (pid && processAlive(pid)) {
    const client = ContainerdClient.connect(socket);
    try {
      await removeAllContainers(client);
    } finally {
      client.close();
    }
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !processAlive(pid), 10_000, 'managed containerd to exit').catch(() => process.kill(pid, 'SIGKILL'));
  }
  for (const shim of await shimPidsOf(socket)) {
    try {
      process.kill(shim, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await forceDeleteRuncState(b.runcRoot);
  await unmountUnder(b.dir);
}
