// A real 3-member etcd cluster on 127.0.0.1 for tests: free ports, its own temp data dirs, static bootstrap
// (--initial-cluster), plain HTTP on loopback. Members are started and stopped by PID; a member (e.g. the
// leader) can be SIGKILLed and restarted on the same ports and data dir. Never the default ports.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { promisify } from 'node:util';
import { testCa } from './registry.js';
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

/** PEM files for mutual TLS on etcd's client port: a test CA, etcd's server pair, one client pair. */
export interface EtcdTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA (openssl), a server certificate for 127.0.0.1 and a client certificate, all signed by it. */
export async function etcdTls(dir: string): Promise<EtcdTls> {
  const server = await testCa(dir);
  const f = (n: string): string => path.join(dir, n);
  const run = promisify(execFile);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=berth-host', '-keyout', f('client.key'), '-out', f('client.csr')]);
  await writeFile(f('client.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  await run('openssl', ['x509', '-req', '-in', f('client.csr'), '-CA', server.ca, '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('client.cnf'), '-out', f('client.pem')]);
  return { ca: server.ca, serverCert: server.cert, serverKey: server.key, clientCert: f('client.pem'), clientKey: f('client.key') };
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
  private constructor(readonly dir: string, readonly members: EtcdMember[], readonly tls: EtcdTls | undefined) {}

  private get scheme(): string {
    return this.tls ? 'https' : 'http';
  }

  /** `http(s)://127.0.0.1:<port>` of every member. */
  get endpoints(): string[] {
    return this.members.map((m) => `${this.scheme}://127.0.0.1:${m.clientPort}`);
  }

  /** `tls`: clients must present a certificate signed by the test CA (peers talk plain HTTP on loopback). */
  static async start(size = 3, opts: { tls?: boolean } = {}): Promise<TestEtcdCluster> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'betcd-'));
    const tls = opts.tls ? await etcdTls(path.join(dir, 'tls')) : undefined;
    const members: EtcdMember[] = [];
    for (let i = 0; i < size; i++) {
      members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: path.join(dir, `m${i}`), child: undefined });
    }
    const cluster = new TestEtcdCluster(dir, members, tls);
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
    const client = `${this.scheme}://127.0.0.1:${m.clientPort}`;
    const tls = this.tls
      ? ['--cert-file', this.tls.serverCert, '--key-file', this.tls.serverKey, '--client-cert-auth', '--trusted-ca-file', this.tls.ca]
      : [];
    const peer = `http://127.0.0.1:${m.peerPort}`;
    m.child = spawn(ETCD, [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', this.initialCluster(), '--initial-cluster-state', 'new',
      '--initial-cluster-token', path.basename(this.dir),
      // Fast elections on loopback: a killed leader is replaced within about a second.
      '--heartbeat-interval', '50', '--election-timeout', '500',
      '--log-level', 'warn', '--logger', 'zap', ...tls,
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
  }

  /** Whether the member answers `/health` with `"health":"true"` (it has a leader and serves reads). */
  async healthy(m: EtcdMember): Promise<boolean> {
    if (this.tls) return this.healthyTls(m, this.tls);
    try {
      const res = await fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return body.health === 'true';
    } catch {
      return false;
    }
  }

  private healthyTls(m: EtcdMember, tls: EtcdTls): Promise<boolean> {
    return new Promise((resolve) => {
      const req = https.get({
        host: '127.0.0.1', port: m.clientPort, path: '/health', timeout: 1000,
        ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey),
      }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body.includes('"health":"true"')));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
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

  /** Start every stopped member again at once (one alone has no quorum), then wait for all to be healthy. */
  async restartAll(timeoutMs = 30_000): Promise<void> {
    for (const m of this.members) if (!this.running().includes(m)) this.spawn(m);
    await this.waitHealthy(timeoutMs);
  }

  /** Stop every member by PID and remove the data dirs. */
  async stop(): Promise<void> {
    for (const m of this.members) await this.kill(m);
    await rm(this.dir, { recursive: true, force: true });
  }
}
