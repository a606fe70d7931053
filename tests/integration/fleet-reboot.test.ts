// Issue 19: an operator's reboot (berthctl) and brupop's (berth-apiclient) on a host with
// updates.reboot-strategy = etcd, against a real 3-member etcd cluster and a real berthd:
// - every slot of the group held: the call answers within its wait, naming the holders as etcd has them, and
//   leaves nothing behind (no slot taken, no waiter that would take one later);
// - a free slot: berthd answers "rebooting …" before updates.reboot-command runs, so a command that stops
//   berthd itself (as `systemctl reboot` does; here `kill` of berthd's own PID) still leaves the caller with
//   its answer and exit 0; the slot is taken once, and given back by the next start.
// As root (containerd).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { TestEtcdCluster } from '../support/etcd.js';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { BerthClient } from '../../src/cli/client.js';
import { hostKey, semaphoreKey, slotKey, slotsPrefix } from '../../src/fleet/index.js';

const APICLIENT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/berth-apiclient');
const GROUP = 'rb';
const ME = 'r1';
let etcd: TestEtcdCluster;
let kv: Etcd3;
let ctd: TestContainerd;
let b: TestBerthd;
let marker: string;

interface Run { code: number | null; stdout: string; stderr: string; ms: number }

function apiclient(args: string[]): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(APICLIENT, args, { timeout: 60_000, env: { ...process.env, BERTH_SOCKET: b.socket } }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

async function cli(...args: string[]): Promise<Run> {
  const t0 = Date.now();
  const r = await runCli(['--socket', b.socket, ...args]);
  return { ...r, ms: Date.now() - t0 };
}

async function semaphore(): Promise<{ holders: string[]; failed: unknown[] }> {
  const text = await kv.get(semaphoreKey(GROUP)).string();
  return text ? (JSON.parse(text) as { holders: string[]; failed: unknown[] }) : { holders: [], failed: [] };
}

async function record(): Promise<{ updateState: string; slot: string; lastError: string } | undefined> {
  const text = await kv.get(hostKey(GROUP, ME)).string();
  return text ? (JSON.parse(text) as { updateState: string; slot: string; lastError: string }) : undefined;
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/** Sets the reboot command to stop this berthd by its PID (as `systemctl reboot` stops it on a real host). */
async function rebootKills(signal: 'TERM' | 'KILL'): Promise<void> {
  const api = BerthClient.connect({ socketPath: b.socket });
  try {
    await api.settings.set({ 'updates.reboot-command': `kill -${signal} ${b.pid}` });
  } finally {
    api.close();
  }
}

const running = (): boolean => b.child !== undefined && b.child.exitCode === null && b.child.signalCode === null;

/** berthd up again if a test before this one left it stopped (each test starts from a running berthd). */
async function ensureUp(): Promise<void> {
  if (!running()) await b.start(60_000);
}

async function exited(): Promise<void> {
  await waitFor(() => !running(), 30_000, 'berthd to be stopped by its reboot command');
}

/** The next start (the "reboot") gives the slot back after its boot check. */
async function restartAndRelease(): Promise<void> {
  await b.start(60_000);
  await waitFor(async () => !(await semaphore()).holders.includes(ME) && (await kv.get(slotKey(GROUP, ME)).string()) === null, 30_000, 'the slot given back after the boot check');
}

const slotTakenLines = (): number => b.log().split('\n').filter((l) => l.includes('"msg":"fleet: reboot slot taken"')).length;

before(async () => {
  etcd = await TestEtcdCluster.start();
  kv = new Etcd3({ hosts: etcd.endpoints });
  ctd = await TestContainerd.start();
  b = await TestBerthd.create({ containerd: ctd, extraArgs: ['--namespace', 'fleetreboot'] });
  marker = path.join(b.dir, 'rebooted');
  await appendFile(b.settingsDefaults, [
    '[settings.updates]', 'reboot-strategy = "etcd"', `reboot-command = ${JSON.stringify(`touch '${marker}'`)}`,
    '[settings.fleet]', `etcd.endpoints = ${JSON.stringify(etcd.endpoints)}`, `group = "${GROUP}"`, `host-id = "${ME}"`, 'max-concurrent-reboots = "2"', '',
  ].join('\n'));
  await b.start(60_000);
  await waitFor(async () => (await record()) !== undefined, 20_000, 'the host registered');
});

after(async () => {
  await b?.stop();
  kv?.close();
  await ctd?.stop();
  await etcd?.stop();
});

test('every slot held: berthctl and berth-apiclient are refused within their wait, naming the holders; nothing is taken, nobody waits on', async () => {
  const since = '2026-12-03T07:00:00.000Z';
  await kv.put(semaphoreKey(GROUP)).value(JSON.stringify({ holders: ['x1', 'x2'], failed: [] }));
  for (const h of ['x1', 'x2']) await kv.put(slotKey(GROUP, h)).value(JSON.stringify({ from: '1.0.0', to: '2.0.0', since }));

  const refused = await cli('update', 'reboot', '--wait', '2s');
  assert.equal(refused.code, 1, refused.stderr);
  assert.ok(refused.ms < 15_000, `answered after ${refused.ms} ms`);
  assert.match(refused.stderr, /^berthctl: no reboot slot is free for this host in fleet group rb after waiting 2 s: all 2 reboot slots are held \(x1, x2\)/);
  assert.match(refused.stderr, /slots held by: x1 \(1\.0\.0 → 2\.0\.0 since 2026-12-03T07:00:00\.000Z\), x2 \(1\.0\.0 → 2\.0\.0 since 2026-12-03T07:00:00\.000Z\)/);
  assert.match(refused.stderr, /nothing was taken \(this host holds no slot and waits for none\) — try again later, or wait longer with --wait/);

  // brupop's call: its fixed short wait, then 423 (brupop retries it, as while the update lock is held).
  const brupop = await apiclient(['raw', '-u', '/actions/reboot', '-m', 'POST']);
  assert.equal(brupop.code, 1, brupop.stderr);
  assert.ok(brupop.ms < 25_000, `answered after ${brupop.ms} ms`);
  assert.match(brupop.stderr, /^Failed POST request to '\/actions\/reboot': Status 423 when POSTing \/actions\/reboot: no reboot slot is free for this host in fleet group rb after waiting 10 s: .*slots held by: x1 .*, x2 /);
  assert.equal(brupop.stderr.split('Status')[1]!.trim().split(/\s+/)[0], '423', "brupop's reading of it");

  assert.deepEqual((await semaphore()).holders, ['x1', 'x2'], 'the semaphore is as it was');
  assert.equal(await kv.get(slotKey(GROUP, ME)).string(), null, 'no slot key for this host');
  assert.ok(!(await exists(marker)), 'updates.reboot-command did not run');
  await waitFor(async () => {
    const r = await record();
    return r?.updateState === 'idle' && /^reboot refused: no reboot slot is free/.test(r.lastError);
  }, 5000, 'the record to say the host no longer waits, and why');
  const status = await cli('-o', 'json', 'update', 'status');
  const s = JSON.parse(status.stdout) as { operation?: unknown; lastError?: { operation: string; message: string } };
  assert.equal(s.operation, undefined, 'no reboot operation left running');
  assert.equal(s.lastError?.operation, 'reboot');

  // A slot frees up: a waiter left behind would take it at once (it reacts to the semaphore's change, and
  // re-reads every 3 s). Proving that nothing does needs a window: 4 s of etcd's events on the slot keys.
  const watcher = await kv.watch().prefix(slotsPrefix(GROUP)).create();
  const puts: string[] = [];
  watcher.on('put', (k: { key: Buffer }) => puts.push(k.key.toString()));
  try {
    await kv.put(semaphoreKey(GROUP)).value(JSON.stringify({ holders: ['x1'], failed: [] }));
    await kv.delete().key(slotKey(GROUP, 'x2'));
    await new Promise((r) => setTimeout(r, 4000));
  } finally {
    await watcher.cancel();
  }
  assert.deepEqual(puts, [], 'nobody took the freed slot');
  assert.deepEqual((await semaphore()).holders, ['x1']);
});

test('a free slot: berthctl gets "rebooting" and exit 0 though updates.reboot-command kills berthd; the slot is taken once and given back by the next start', async () => {
  // One slot of two free (whatever the test before left).
  await ensureUp();
  await kv.put(semaphoreKey(GROUP)).value(JSON.stringify({ holders: ['x1'], failed: [] }));
  await kv.delete().key(slotKey(GROUP, 'x2'));
  const before = slotTakenLines();
  await rebootKills('KILL');
  const r = await cli('update', 'reboot');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'rebooting (no update is ready)\n');
  await exited();
  assert.equal(b.child?.signalCode, 'SIGKILL', 'the command ran, after the answer');
  assert.deepEqual((await semaphore()).holders, ['x1', ME], 'the slot was taken before the reboot');
  assert.match((await kv.get(slotKey(GROUP, ME)).string()) ?? '', /"from":"[^"]+","to":""/);
  assert.equal(slotTakenLines() - before, 1, '"fleet: reboot slot taken" logged once');
  await restartAndRelease();
});

test('brupop\'s reboot through berth-apiclient: 204 and exit 0 with the answer on stderr though the command stops berthd (SIGTERM)', async () => {
  await ensureUp();
  await kv.put(semaphoreKey(GROUP)).value(JSON.stringify({ holders: ['x1'], failed: [] }));
  await rebootKills('TERM');
  const r = await apiclient(['raw', '-u', '/actions/reboot', '-m', 'POST']);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', 'rebooting (no update is ready)\n']);
  await exited();
  assert.deepEqual((await semaphore()).holders, ['x1', ME]);
  await restartAndRelease();
  // apiclient's own `reboot`: the answer on stdout.
  await rebootKills('KILL');
  const own = await apiclient(['reboot']);
  assert.deepEqual([own.code, own.stdout, own.stderr], [0, 'rebooting (no update is ready)\n', '']);
  await exited();
  await restartAndRelease();
});
