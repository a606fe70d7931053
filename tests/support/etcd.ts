// A real 3-member etcd cluster on 127.0.0.1 for tests: free ports, its own temp data dirs, static bootstrap
// (--initial-cluster), plain HTTP on loopback. Members are started and stopped by PID; a member (e.g. the
// leader) can be SIGKILLed and restarted on the same ports and data dir. Never the default ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './wait.js';

const ETCD = process.env['ETCD_BIN'] ?? '/usr/bin/etcd';

/** A port nothing listens on right now (bound to port 0, then released). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  child: ChildProcess | undefined;
}

interface MemberStatus {
  header: { member_id: string };
  leader: string;
}

export class TestEtcdCluster {
  private constructor(readonly dir: string, readonly members: EtcdMember[]) {}

  /** `http://127.0.0.1:<port>` of every member. */
  get endpoints(): string[] {
    return this.members.map((m) => `http://127.0.0.1:${m.clientPort}`);
  }

  static async start(size = 3): Promise<TestEtcdCluster> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'betcd-'));
    const members: EtcdMember[] = [];
    for (let i = 0; i < size; i++) {
      members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: path.join(dir, `m${i}`), child: undefined });
    }
    const cluster = new TestEtcdCluster(dir, members);
    try {
      for (const m of members) cluster.spawn(m);
      await cluster.waitHealthy(30_000);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private initialCluster(): string {
    return this.members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  }

  logFile(m: EtcdMember): string {
    return path.join(this.dir, `${m.name}.log`);
  }

  log(m: EtcdMember): string {
    try {
      return readFileSync(this.logFile(m), 'utf8');
    } catch {
      return '';
    }
  }

  private spawn(m: EtcdMember): void {
    const log = openSync(this.logFile(m), 'a');
    const client = `http://127.0.0.1:${m.clientPort}`;
    const peer = `http://127.0.0.1:${m.peerPort}`;
    m.child = spawn(ETCD, [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', this.initialCluster(), '--initial-cluster-state', 'new',
      '--initial-cluster-token', path.basename(this.dir),
      // Fast elections on loopback: a killed leader is replaced within about a second.
      '--heartbeat-interval', '50', '--election-timeout', '500',
      '--log-level', 'warn', '--logger', 'zap',
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
  }

  /** Whether the member answers `/health` with `"health":"true"` (it has a leader and serves reads). */
  async healthy(m: EtcdMember): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return body.health === 'true';
    } catch {
      return false;
    }
  }

  private running(): EtcdMember[] {
    return this.members.filter((m) => m.child && m.child.exitCode === null && m.child.signalCode === null);
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor(async () => {
      const running = this.running();
      const dead = this.members.find((m) => m.child && (m.child.exitCode !== null));
      if (dead) throw new Error(`etcd ${dead.name} exited with ${dead.child?.exitCode}:\n${this.log(dead)}`);
      return (await Promise.all(running.map((m) => this.healthy(m)))).every(Boolean);
    }, timeoutMs, 'every running etcd member healthy');
  }

  private async status(m: EtcdMember): Promise<MemberStatus | undefined> {
    try {
      // etcd's gRPC gateway (v3 API as JSON over HTTP): the member's id and the leader it knows of.
      const res = await fetch(`http://127.0.0.1:${m.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
      return (await res.json()) as MemberStatus;
    } catch {
      return undefined;
    }
  }

  /** The member that is the leader now (all running members agree), waiting for an election if needed. */
  async leader(timeoutMs = 10_000): Promise<EtcdMember> {
    let found: EtcdMember | undefined;
    await waitFor(async () => {
      const statuses = await Promise.all(this.running().map(async (m) => ({ m, s: await this.status(m) })));
      const leaders = new Set(statuses.map(({ s }) => s?.leader ?? '0'));
      if (leaders.size !== 1 || leaders.has('0')) return false;
      found = statuses.find(({ s }) => s && s.header.member_id === s.leader)?.m;
      return found !== undefined;
    }, timeoutMs, 'an etcd leader all members agree on');
    return found!;
  }

  /** SIGKILL one member (by PID) and wait for it to be gone. */
  async kill(m: EtcdMember): Promise<void> {
    const child = m.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** Start a stopped member again on its ports and data dir (it rejoins; its data dir holds the membership). */
  async restart(m: EtcdMember, timeoutMs = 30_000): Promise<void> {
    this.spawn(m);
    await this.waitHealthy(timeoutMs);
  }

  /** Stop every member by PID and remove the data dirs. */
  async stop(): Promise<void> {
    for (const m of this.members) await this.kill(m);
    await rm(this.dir, { recursive: true, force: true });
  }
}
