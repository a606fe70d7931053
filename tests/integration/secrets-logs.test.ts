// Issue 14, items 5 and 9b, end to end against a private containerd and a real berthd (child process):
// registry credentials set through berthctl are used for pulls but never printed (get, apply, set, berthd's
// log); unit and workload logs are 0640 in a 0750 dir, removed with their workload, not inherited by a
// same-name successor; a `--restart never` workload that exited stays exited while others come and go, and
// across a berthd restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { RegistryFront, TestRegistry, buildLayout, busyboxLayers, type BuiltLayout } from '../support/registry.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { hostUnit, IDLE, waitUnit } from '../support/units.js';
import { waitFor } from '../support/wait.js';
import { importArchive } from '../../src/images/import.js';
import { BerthClient, type WorkloadInfo, type WorkloadRequest } from '../../src/cli/client.js';
import { WORKLOAD_NAMESPACE } from '../../src/workloads/wiring.js';

const execFileP = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');
const SECRET = 'Pw-3xq8-not-for-eyes';
const MiB = 1024 * 1024;

let ctd: TestContainerd;
let b: TestBerthd;
let client: BerthClient;
let reg: TestRegistry;
let front: RegistryFront;
let work: string;
let app: BuiltLayout;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bsec-'));
  ctd = await TestContainerd.start();
  for (const ns of ['berth', WORKLOAD_NAMESPACE]) {
    const c = ctd.client(ns);
    await importArchive(c, await busyboxArchive(), { namespace: ns });
    c.close();
  }
  reg = await TestRegistry.start();
  app = await buildLayout(path.join(work, 'app'), [{ architecture: 'amd64', layers: busyboxLayers(1, 32 << 10) }]);
  await reg.push(app.dir, 'test/app', 'v1');
  // Bearer-token front: the token endpoint only answers to these credentials.
  front = await RegistryFront.start(reg.host, { bearer: { user: 'berth', password: SECRET } });
  b = await TestBerthd.create({ containerd: ctd, units: { hostlog: hostUnit('hostlog', `echo host-line; ${IDLE}`) } });
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
});

after(async () => {
  client?.close();
  await b?.stop();
  await front?.close();
  await reg?.stop();
  await ctd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function berthctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, '--socket', b.socket, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function request(name: string, over: Partial<WorkloadRequest> = {}): WorkloadRequest {
  return {
    name, image: BUSYBOX_REF, command: ['/bin/sh', '-c', IDLE], env: {}, memoryBytes: 64 * MiB, mounts: [], restart: 'always',
    capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [], ...over,
  };
}

async function waitWorkload(name: string, pred: (w: WorkloadInfo) => boolean, what: string): Promise<WorkloadInfo> {
  let last: WorkloadInfo | undefined;
  await waitFor(async () => {
    last = await client.workloads.get(name).catch(() => undefined);
    return last !== undefined && pred(last);
  }, 60_000, `${name}: ${what}`).catch((e: Error) => {
    throw new Error(`${e.message}; last: ${JSON.stringify(last?.status)}`);
  });
  return last!;
}

async function logLines(name: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const l of client.workloads.logs(name)) lines.push(l.line);
  return lines;
}

test('registry credentials: used for the pull, never printed by set, get (JSON or table mode), apply, nor logged', async () => {
  const host = front.host;
  const set = await berthctl(['set', `container-registry.insecure.${host}=true`, `container-registry.credentials.${host}.username=berth`, `container-registry.credentials.${host}.password=${SECRET}`]);
  assert.equal(set.code, 0, set.stderr);
  assert.ok(!set.stdout.includes(SECRET), set.stdout);

  for (const args of [['get'], ['-o', 'json', 'get'], ['-o', 'table', 'get'], ['get', 'container-registry'], ['get', `container-registry.credentials.${host}.password`]]) {
    const r = await berthctl(args);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(SECRET), `berthctl ${args.join(' ')} printed the password:\n${r.stdout}`);
    assert.match(r.stdout, /"password": "<redacted>"/, `berthctl ${args.join(' ')}`);
  }

  const doc = path.join(work, 'creds.toml');
  await writeFile(doc, `[settings.container-registry.credentials."${host}"]\nusername = "berth"\npassword = "${SECRET}"\n`);
  const applied = await berthctl(['apply', doc]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.ok(!applied.stdout.includes(SECRET));
  const broken = await berthctl(['set', '--json', `{"container-registry": {"credentials": {"${host}": {"password": ${SECRET}}}}}`]);
  assert.notEqual(broken.code, 0);
  assert.ok(!`${broken.stdout}${broken.stderr}`.includes(SECRET.slice(1)), broken.stderr);

  // Still stored and used: the pull gets its token with exactly these credentials.
  const pulled = await berthctl(['images', 'pull', `${host}/test/app:v1`]);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, new RegExp(app.images[0]!.manifestDigest));
  const basic = `Basic ${Buffer.from(`berth:${SECRET}`).toString('base64')}`;
  assert.ok(front.seen.some((r) => r.url.startsWith('/token') && r.authorization === basic), 'token asked for with the stored password');

  const settingsFile = path.join(b.stateDir, 'settings', 'settings.json');
  assert.ok((await readFile(settingsFile, 'utf8')).includes(SECRET), 'persisted');
  assert.equal((await stat(settingsFile)).mode & 0o777, 0o600);
  const log = await readFile(b.logFile, 'utf8');
  assert.match(log, /settings committed/);
  assert.ok(!log.includes(SECRET), 'berthd log carries the password');
});

test('logs: files 0640 root, dirs 0750; workload rm removes them; a same-name workload sees none of the old lines', async () => {
  await waitUnit(client, 'hostlog', (u) => u.state === 'running', 30_000, 'running');
  const hostLogs = path.join(b.stateDir, 'logs');
  await waitFor(async () => (await readFile(path.join(hostLogs, 'hostlog.log'), 'utf8').catch(() => '')).includes('host-line'), 30_000, 'host unit log line');
  for (const [p, mode] of [[hostLogs, 0o750], [path.join(hostLogs, 'hostlog.log'), 0o640]] as const) {
    const st = await stat(p);
    assert.equal(st.mode & 0o777, mode, p);
    assert.equal(st.uid, 0, p);
    assert.equal(st.gid, 0, p);
  }

  await client.workloads.run(request('talker', { command: ['/bin/sh', '-c', `echo first-life-line; ${IDLE}`] }));
  await waitFor(async () => (await logLines('talker')).includes('first-life-line'), 60_000, 'first life line');
  const wlLogs = path.join(b.stateDir, 'workloads', 'logs');
  assert.equal((await stat(wlLogs)).mode & 0o777, 0o750);
  const file = path.join(wlLogs, 'talker.log');
  assert.equal((await stat(file)).mode & 0o777, 0o640);
  assert.equal((await stat(file)).uid, 0);

  await client.workloads.remove('talker');
  assert.deepEqual((await readdir(wlLogs)).filter((f) => f.startsWith('talker.')), [], 'log files of the removed workload');

  await client.workloads.run(request('talker', { command: ['/bin/sh', '-c', `echo second-life-line; ${IDLE}`] }));
  await waitFor(async () => (await logLines('talker')).includes('second-life-line'), 60_000, 'second life line');
  const lines = await logLines('talker');
  assert.ok(!lines.includes('first-life-line'), `old lines shown: ${lines.join(' | ')}`);
  const cli = await berthctl(['workloads', 'logs', 'talker']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.ok(!cli.stdout.includes('first-life-line'), cli.stdout);
  await client.workloads.remove('talker');
});

test('restart never: an exited workload stays exited when another workload is run and another removed', async () => {
  await client.workloads.run(request('oneshot', { command: ['/bin/sh', '-c', 'echo oneshot-ran'], restart: 'never' }));
  const exited = await waitWorkload('oneshot', (w) => w.status.state === 'exited', 'exited');
  assert.equal(exited.status.desired, 'stopped', 'nothing will start it again');
  await client.workloads.run(request('bystander'));
  await waitWorkload('bystander', (w) => w.status.state === 'running', 'bystander running');
  await client.workloads.run(request('leaver'));
  await client.workloads.remove('leaver');
  await client.workloads.remove('bystander');

  const after = await client.workloads.get('oneshot');
  assert.equal(after.status.state, 'exited', JSON.stringify(after.status.events));
  assert.equal(after.status.restarts, 0);
  assert.notEqual(after.status.desired, 'running');
  assert.ok(!after.status.events.some((e) => e.state === 'starting' && e.at > exited.status.events.at(-1)!.at), JSON.stringify(after.status.events));
  assert.deepEqual((await logLines('oneshot')).filter((l) => l === 'oneshot-ran'), ['oneshot-ran'], 'ran once');
  const ls = await berthctl(['workloads', 'ls']);
  assert.match(ls.stdout, /^oneshot\s+exited\s+stopped\s/m, ls.stdout);

  // Persisted: a berthd restart does not run it again either.
  const persisted = async (): Promise<string | undefined> => {
    const doc = JSON.parse(await readFile(path.join(b.stateDir, 'workloads.json'), 'utf8')) as { workloads: { request: { name: string }; desired: string }[] };
    return doc.workloads.find((w) => w.request.name === 'oneshot')?.desired;
  };
  await waitFor(async () => (await persisted()) === 'stopped', 10_000, 'oneshot persisted as stopped');
  client.close();
  await b.kill();
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
  const restarted = await client.workloads.get('oneshot');
  assert.notEqual(restarted.status.state, 'running');
  assert.equal(restarted.status.desired, 'stopped');
  assert.deepEqual((await logLines('oneshot')).filter((l) => l === 'oneshot-ran'), ['oneshot-ran'], 'not run by the berthd restart');

  // An explicit start still runs it again.
  await client.workloads.start('oneshot');
  await waitFor(async () => (await logLines('oneshot')).filter((l) => l === 'oneshot-ran').length === 2, 60_000, 'second run');
  await client.workloads.remove('oneshot');
});
