// R6: abuse. Socket permissions, the mTLS listener, hostile names, oversized user-data, privilege requests
// for workloads (API on both backends, and workload-class unit files), planted symlinks in a host
// container's persistent dir, and an API flood that must not starve the supervisor.
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hostUnit, IDLE, waitUnit } from '../../tests/support/units.js';
import { BUSYBOX_REF } from '../../tests/support/images.js';
import { waitFor } from '../../tests/support/wait.js';
import { ApiError, BerthClient, type WorkloadRequest } from '../../src/cli/client.js';
import type { TestBerthd } from '../../tests/support/berthd.js';
import { client, dropBerthd, newBerthd, WORKLOAD_NS, type ChaosEnv } from './env.js';
import { announcedDelays, now, Tally, type Row } from './lib.js';

const execFileP = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');

async function rejected<T>(p: Promise<T>): Promise<ApiError | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await execFileP('openssl', args, { cwd: dir, timeout: 30_000 });
}

/** CA, server cert for 127.0.0.1, a good client cert, an expired one (same CA) and one from a rogue CA. */
async function makeCerts(dir: string): Promise<void> {
  await writeFile(path.join(dir, 'ca.cnf'), `[ ca ]\ndefault_ca = d\n[ d ]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\ncopy_extensions = copy\n[ p ]\ncommonName = supplied\n`);
  await writeFile(path.join(dir, 'index.txt'), '');
  await writeFile(path.join(dir, 'serial'), '1000\n');
  for (const ca of ['ca', 'rogue']) {
    await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=${ca}`]);
  }
  await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  await openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-copy_extensions', 'copy']);
  for (const c of ['client', 'expired', 'roguecl']) {
    await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${c}.key`, '-out', `${c}.csr`, '-subj', `/CN=${c}`]);
  }
  await openssl(dir, ['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2']);
  await openssl(dir, ['x509', '-req', '-in', 'roguecl.csr', '-CA', 'rogue.crt', '-CAkey', 'rogue.key', '-CAcreateserial', '-out', 'roguecl.crt', '-days', '2']);
  await openssl(dir, ['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.crt', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext']);
}

const BASE_WORKLOAD: WorkloadRequest = {
  name: 'w', image: BUSYBOX_REF, command: ['/bin/sh', '-c', 'sleep 1000'], env: {}, mounts: [], restart: 'always', capAdd: [],
  privileged: false, hostNetwork: false, hostPid: false, devices: [],
};
const PRIVILEGED_ASKS: [string, Partial<WorkloadRequest>, RegExp][] = [
  ['privileged', { privileged: true }, /^privileged: /],
  ['host network', { hostNetwork: true }, /host_network/],
  ['host pid', { hostPid: true }, /host_pid/],
  ['extra capability', { capAdd: ['CAP_SYS_ADMIN'] }, /cap_add\[0\]/],
  ['device', { devices: ['/dev/mem'] }, /devices/],
  ['host path', { mounts: [{ source: '/etc', destination: '/host-etc', readOnly: false }] }, /mounts\[0\]\.source/],
  ['berth run dir', { mounts: [{ source: '/run', destination: '/r', readOnly: true }] }, /mounts\[0\]\.source/],
];
const BAD_NAMES: [string, string][] = [['dotdot', '..'], ['slash', 'a/b'], ['nul', 'a\0b'], ['long', 'a'.repeat(1000)], ['traversal', '../../etc']];

/** Workload refusals on one berthd (one backend): each names its field and leaves nothing behind. */
async function workloadRefusals(t: Tally, env: ChaosEnv, c: BerthClient, backend: string): Promise<void> {
  for (const [what, ask, field] of PRIVILEGED_ASKS) {
    await t.run(`${backend}: workload asking for ${what}`, async () => {
      const e = await rejected(c.workloads.run({ ...BASE_WORKLOAD, name: `p-${what.replace(/ /g, '-')}`, ...ask }, { timeoutMs: 20_000 }));
      if (!e) return [`accepted`];
      const out: string[] = [];
      if (e.codeName !== 'INVALID_ARGUMENT') out.push(`code ${e.codeName}: ${e.message}`);
      if (!field.test(e.message)) out.push(`does not name the field (${field}): ${e.message}`);
      if ((await c.workloads.list()).length) out.push('a workload record was created');
      if (backend === 'containerd' && (await env.cc.listContainers([], { namespace: WORKLOAD_NS })).length) out.push('a container was created');
      return out;
    });
  }
  for (const [what, name] of BAD_NAMES) {
    await t.run(`${backend}: workload named ${what}`, async () => {
      const e = await rejected(c.workloads.run({ ...BASE_WORKLOAD, name }, { timeoutMs: 20_000 }));
      if (!e) return ['accepted'];
      return e.codeName === 'INVALID_ARGUMENT' && /^name: /.test(e.message) ? [] : [`${e.codeName}: ${e.message.slice(0, 200)}`];
    });
  }
}

export async function r6Abuse(env: ChaosEnv): Promise<Row[]> {
  const rows: Row[] = [];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'chaos-r6-'));
  try {
    rows.push(await socketAndTls(env, tmp));
    rows.push(await namesAndLimits(env, tmp));
    rows.push(await symlinks(env, tmp));
    rows.push(await flood(env));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return rows;
}

// ---- who may connect ------------------------------------------------------------------------------------

async function socketAndTls(env: ChaosEnv, tmp: string): Promise<Row> {
  const t = new Tally('R6 abuse: socket permissions and mTLS');
  const certs = path.join(tmp, 'certs');
  await mkdir(certs);
  let b: TestBerthd | undefined;
  try {
    await makeCerts(certs);
    const port = await freePort();
    b = await newBerthd(env, { extraArgs: ['--api-tcp', `127.0.0.1:${port}`, '--api-ca', path.join(certs, 'ca.crt'), '--api-cert', path.join(certs, 'server.crt'), '--api-key', path.join(certs, 'server.key')] });
    await b.start(120_000);
    // Let uid 65534 reach the socket's directory, so only the socket's own mode and group decide.
    await chmod(b.dir, 0o755);
    await chmod(b.runDir, 0o755);
    const asUser = async (gid: number): Promise<{ code: number; stderr: string }> => {
      try {
        await execFileP(process.execPath, [CLI, '--socket', b!.socket, 'units'], { uid: 65534, gid, timeout: 30_000 });
        return { code: 0, stderr: '' };
      } catch (e) {
        const err = e as { code?: number; stderr?: string };
        return { code: typeof err.code === 'number' ? err.code : 1, stderr: err.stderr ?? '' };
      }
    };
    await t.run('uid 65534 without the socket group cannot connect', async () => {
      const r = await asUser(65534);
      return r.code !== 0 && /permission|EACCES|denied/i.test(r.stderr) ? [] : [`exit ${r.code}: ${r.stderr.slice(0, 200)}`];
    });
    await t.run('control: uid 65534 with the socket group connects', async () => {
      const r = await asUser(0);
      return r.code === 0 ? [] : [`exit ${r.code}: ${r.stderr.slice(0, 200)}`];
    });
    const read = (f: string): Promise<Buffer> => readFile(path.join(certs, f));
    const tlsCall = async (cert?: string): Promise<string | undefined> => {
      const c = BerthClient.connect({ tls: { address: `127.0.0.1:${port}`, ca: await read('ca.crt'), ...(cert ? { cert: await read(`${cert}.crt`), key: await read(`${cert}.key`) } : {}) } });
      try {
        await c.host.version({ timeoutMs: 10_000 });
        return undefined;
      } catch (e) {
        return (e as Error).message;
      } finally {
        c.close();
      }
    };
    await t.run('mTLS: a valid client certificate is accepted', async () => {
      const err = await tlsCall('client');
      return err === undefined ? [] : [err];
    });
    for (const [what, cert] of [['no client certificate', undefined], ['an expired client certificate', 'expired'], ['a certificate from another CA', 'roguecl']] as const) {
      await t.run(`mTLS: ${what} is refused`, async () => (await tlsCall(cert)) === undefined ? ['accepted'] : []);
    }
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    if (b) await dropBerthd(env, b);
  }
  return t.row();
}

// ---- names, sizes, privileges -----------------------------------------------------------------------------

async function namesAndLimits(env: ChaosEnv, tmp: string): Promise<Row> {
  const t = new Tally('R6 abuse: names, user-data size, workload privileges');
  const units: Record<string, string> = { ok: hostUnit('ok', IDLE) };
  for (const [what, name] of BAD_NAMES) units[`bad-${what}`] = hostUnit('x', IDLE).replace('name = "x"', `name = ${JSON.stringify(name).replace('\\u0000', '\\u0000')}`);
  // Workload-class unit files asking for what workloads may never have.
  const wl = (extra: string): string => `name = "wl"\nclass = "workload"\nimage = "${BUSYBOX_REF}"\ncommand = ["/bin/sh"]\n${extra}\n`;
  const wlAsks: [string, string][] = [
    ['superpowered', 'superpowered = true'], ['host-network', '[namespaces]\nhost-network = true'], ['host-pid', '[namespaces]\nhost-pid = true'],
    ['capabilities', '[capabilities]\nadd = ["SYS_ADMIN"]'], ['devices', '[[devices]]\npath = "/dev/mem"\npermissions = "rwm"'],
    ['mounts', '[[mounts]]\ntype = "bind"\nsource = "/etc"\ndestination = "/e"\noptions = ["rw"]'],
  ];
  let b: TestBerthd | undefined;
  let docker: TestBerthd | undefined;
  let c: BerthClient | undefined;
  let dc: BerthClient | undefined;
  try {
    b = await newBerthd(env, { units });
    for (const [what, extra] of wlAsks) await b.writeUnit(`wl-${what}`, wl(extra).replace('name = "wl"', `name = "wl-${what}"`));
    await b.start(120_000);
    c = client(b);
    const cl = c;
    const listed = (await cl.units.list()).map((u) => u.name);
    await t.run('unit files with hostile names are refused', async () => {
      const out: string[] = [];
      const odd = listed.filter((n) => n !== 'ok' && n !== 'wl-mounts');
      if (odd.length) out.push(`loaded: ${odd.map((n) => JSON.stringify(n.slice(0, 40))).join(',')}`);
      const log = b!.log();
      for (const [what] of BAD_NAMES) if (!new RegExp(`bad-${what}\\.toml(:\\d+:\\d+)?: name`).test(log)) out.push(`no "bad-${what}.toml: name" rejection in the log`);
      return out;
    });
    await t.run('workload-class unit files asking for privileges are refused, naming the key', async () => {
      const log = b!.log();
      const out: string[] = [];
      const keys: Record<string, string> = { superpowered: 'superpowered', 'host-network': 'namespaces\\.host-network', 'host-pid': 'namespaces\\.host-pid', capabilities: 'capabilities\\.add', devices: 'devices' };
      for (const [what, key] of Object.entries(keys)) if (!new RegExp(`wl-${what}\\.toml(:\\d+:\\d+)?: ${key}`).test(log)) out.push(`wl-${what}.toml not refused by key`);
      // A bind mount is checked against the host-path allow-list (a setting) when the spec is built, so the
      // file loads but the unit must fail to start, naming the mount, with no container made.
      const m = await cl.units.get('wl-mounts').catch(() => undefined);
      if (m && (m.state === 'running' || !/mounts\[0\]\.source/.test(m.lastError ?? ''))) out.push(`wl-mounts: ${m.state} ${m.lastError}`);
      return out;
    });
    const before = JSON.stringify(await cl.settings.get());
    for (const [what, name] of BAD_NAMES) {
      await t.run(`settings host-containers.<${what}> refused`, async () => {
        const e = await rejected(cl.settings.set({ [`host-containers.${name}.enabled`]: 'true', [`host-containers.${name}.source`]: BUSYBOX_REF }));
        const out: string[] = [];
        if (!e) out.push('accepted');
        else if (e.codeName !== 'INVALID_ARGUMENT' || !/^"?host-containers\./.test(e.message)) out.push(`${e.codeName}: ${e.message.slice(0, 160)}`);
        if (JSON.stringify(await cl.settings.get()) !== before) out.push('settings changed');
        return out;
      });
      await t.run(`unit API with name ${what}`, async () => {
        const e = await rejected(cl.units.start(name));
        return e && (e.codeName === 'NOT_FOUND' || e.codeName === 'INVALID_ARGUMENT') ? [] : [`${e?.codeName ?? 'accepted'}`];
      });
    }
    await t.run('user-data over the limit refused', async () => {
      const big = Buffer.alloc(70 * 1024, 1).toString('base64');
      const e = await rejected(cl.settings.set({ 'host-containers.ok.user-data': big }));
      const out: string[] = [];
      if (!e || e.codeName !== 'INVALID_ARGUMENT' || !/host-containers\.ok\.user-data: .*too large/.test(e.message)) out.push(`${e?.codeName}: ${e?.message.slice(0, 160)}`);
      if (JSON.stringify(await cl.settings.get()) !== before) out.push('settings changed');
      return out;
    });
    await t.run('nothing named after a hostile name exists under the state dir', async () => {
      const hc = await readdir(path.join(b!.stateDir, 'host-containers')).catch(() => [] as string[]);
      const logs = await readdir(path.join(b!.stateDir, 'logs')).catch(() => [] as string[]);
      const odd = [...hc, ...logs].filter((n) => !/^ok(\.log)?$/.test(n));
      return odd.length ? [`unexpected entries: ${odd.join(',')}`] : [];
    });
    await workloadRefusals(t, env, cl, 'containerd');

    // The docker backend: the same refusals (they happen before any engine is asked). No engine runs here,
    // so berthd is pointed at a socket path with nothing behind it.
    const defaults = path.join(tmp, 'docker-defaults.toml');
    await writeFile(defaults, '[settings.selinux]\nmode = "auto"\n[settings.workloads]\nruntime = "docker"\n');
    await dropBerthd(env, b);
    b = undefined;
    docker = await newBerthd(env, { extraArgs: ['--docker-socket', path.join(tmp, 'no-docker.sock')] });
    await writeFile(docker.settingsDefaults, await readFile(defaults, 'utf8'));
    await t.run('berthd starts with workloads.runtime = docker and no engine running', async () => {
      await docker!.start(120_000);
      return [];
    });
    if (docker.child?.exitCode === null) {
      dc = client(docker);
      await workloadRefusals(t, env, dc, 'docker');
    }
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    c?.close();
    dc?.close();
    if (docker) await dropBerthd(env, docker);
    if (b) await dropBerthd(env, b);
  }
  return t.row();
}

// ---- symlinks in a persistent dir ---------------------------------------------------------------------------

async function symlinks(env: ChaosEnv, tmp: string): Promise<Row> {
  const t = new Tally('R6 abuse: planted symlinks in a persistent dir');
  const outside = path.join(tmp, 'outside');
  await mkdir(path.join(outside, 'dir'), { recursive: true });
  const victim = path.join(outside, 'victim');
  await writeFile(victim, 'original\n');
  const userData = Buffer.from('hello\n').toString('base64');
  const unit = hostUnit('pers', IDLE).replace('persistent-storage = false', `persistent-storage = true\nuser-data = "${userData}"`);
  let b: TestBerthd | undefined;
  let c: BerthClient | undefined;
  try {
    b = await newBerthd(env, { units: { pers: unit } });
    await b.start(120_000);
    const cl = (c = client(b));
    const dir = path.join(b.stateDir, 'host-containers', 'pers');
    await t.run('user-data planted as a symlink to a file outside', async () => {
      await rm(path.join(dir, 'user-data'), { force: true });
      await symlink(victim, path.join(dir, 'user-data'));
      await cl.units.restart('pers', { timeoutMs: 30_000 });
      const out: string[] = [];
      if ((await readFile(victim, 'utf8')) !== 'original\n') out.push('the file outside was written');
      const st = await lstat(path.join(dir, 'user-data'));
      if (st.isSymbolicLink() || (await readFile(path.join(dir, 'user-data'), 'utf8')) !== 'hello\n') out.push('user-data not replaced by a regular file');
      return out;
    });
    await t.run('the persistent dir itself planted as a symlink', async () => {
      await cl.units.stop('pers', { timeoutMs: 30_000 });
      await rm(dir, { recursive: true, force: true });
      await symlink(path.join(outside, 'dir'), dir);
      const u = await cl.units.start('pers', { timeoutMs: 30_000 });
      const out: string[] = [];
      const written = await readdir(path.join(outside, 'dir'));
      if (written.length) out.push(`berthd wrote outside: ${written.join(',')}`);
      if (u.state === 'running') out.push('started through a symlinked dir');
      if (!/symlink|not a directory/.test(u.lastError ?? '')) out.push(`refusal not explained: ${u.lastError}`);
      if ((await readFile(victim, 'utf8')) !== 'original\n') out.push('the file outside was written');
      return out;
    });
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    c?.close();
    if (b) await dropBerthd(env, b);
  }
  return t.row();
}

// ---- API flood vs supervision --------------------------------------------------------------------------------

async function flood(env: ChaosEnv): Promise<Row> {
  const full = env.mode === 'full';
  const t = new Tally('R6 abuse: API flood does not starve the supervisor');
  const DELAYS = full ? 4 : 2;
  let b: TestBerthd | undefined;
  const clients: BerthClient[] = [];
  try {
    b = await newBerthd(env, { units: { crasher: hostUnit('crasher', 'exit 1', '[restart]\npolicy = "always"'), idle: hostUnit('idle', IDLE) } });
    await b.start(120_000);
    const watcher = client(b);
    clients.push(watcher);
    // One client process (this one), one connection, 32 calls in flight: bounded by count and by time.
    const flooder = client(b);
    clients.push(flooder);
    const MAX_CALLS = full ? 400_000 : 40_000;
    let calls = 0;
    let errors = 0;
    let stop = false;
    const floodUntil = Date.now() + (full ? 120_000 : 40_000);
    const worker = async (i: number): Promise<void> => {
      while (!stop && calls < MAX_CALLS && Date.now() < floodUntil) {
        calls++;
        const p = i % 4 === 0 ? flooder.units.list() : i % 4 === 1 ? flooder.settings.get() : i % 4 === 2 ? flooder.units.get('idle') : flooder.host.version();
        await p.catch(() => void errors++);
      }
    };
    const t0 = now();
    const before = (await watcher.units.get('crasher')).restarts;
    const workers = Array.from({ length: 32 }, (_, i) => worker(i));
    await t.run(`crasher restarts on time during the flood`, async () => {
      const u = await waitUnit(watcher, 'crasher', (s) => s.restarts >= before + DELAYS, 90_000, `${DELAYS} restarts under flood`);
      const out: string[] = [];
      // Restarts that happened during the flood: announced delay vs the time until the next attempt.
      const ev = u.events;
      let checked = 0;
      for (let i = 0; i < ev.length; i++) {
        if (ev[i]!.state !== 'backing-off' || Date.parse(ev[i]!.at) < Date.now() - (now() - t0)) continue;
        const announced = Number(/restarting in ([\d.]+) s/.exec(ev[i]!.message)?.[1]) * 1000;
        const next = ev.slice(i + 1).find((e) => e.state === 'preparing');
        if (!next) continue;
        checked++;
        const waited = Date.parse(next.at) - Date.parse(ev[i]!.at);
        t.recovery(waited - announced);
        if (waited > announced + 1000 || waited < announced - 150) out.push(`waited ${waited} ms for an announced ${announced} ms`);
      }
      if (checked === 0) out.push(`no restart observed during the flood (delays ${announcedDelays(ev).join(',')})`);
      return out;
    });
    stop = true;
    await Promise.all(workers);
    t.note = `${calls} calls from one client (32 in flight, ${errors} errors) while the crasher restarted; worst recovery = restart lateness vs announced delay`;
    if (calls < 100) t.fail(`the flood made only ${calls} calls`);
    await waitFor(async () => (await watcher.host.version().then(() => true, () => false)), 10_000, 'berthd answering after the flood');
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    for (const c of clients) c.close();
    if (b) await dropBerthd(env, b);
  }
  return t.row();
}
