// Issue 19, parts 2 and 4: rolling updates through a real 3-member etcd cluster with five real berthd
// processes (own state and run dirs and namespaces, one shared test containerd), each with its own A/B disk
// image file as boot disk and a real update repository (berth-repo, served on 127.0.0.1). A "reboot" is
// updates.reboot-command touching a marker file; this harness then restarts that berthd on the version the
// disk boots next (os-release and the running slot switched), as a host's reboot would. The invariant
// "never more than N hosts rebooting" is read from etcd's own revision history of the slot keys and of the
// semaphore (a watch from revision 1), not from berthd's logs. As root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { TestEtcdCluster } from '../support/etcd.js';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { makeBuild, makeDisk, MiB } from '../support/disk-image.js';
import { mustRepo, publish, serveStatic, type StaticServer } from '../support/update-repo.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { BerthClient } from '../../src/cli/client.js';
import { hostsPrefix, semaphoreKey, slotsPrefix } from '../../src/fleet/index.js';

/** As berthd's (src/fleet/etcd-session.ts): unary calls have a deadline, so one sent to a killed member fails over. */
function client(): Etcd3 {
  return new Etcd3({ hosts: etcd.endpoints, dialTimeout: 5000, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }) });
}

const GROUP = 'roll';
const N = 5;
const VERSIONS = ['2.0.0', '3.0.0'];

interface Host {
  id: string;
  dir: string;
  b: TestBerthd;
  api: BerthClient;
  version: string;
  slot: 'A' | 'B';
  /** Serializes restarts of this host (a reboot marker and a test's SIGKILL never restart it twice). */
  busy: Promise<void>;
}

let dir: string;
let etcd: TestEtcdCluster;
let kv: Etcd3;
let ctd: TestContainerd;
let repoServer: StaticServer;
const hosts: Host[] = [];
/** The next reboot of any host comes back on the old version (a rollback), once. */
let rollBackNext = false;
let rebooter: Promise<void> | undefined;
let stopRebooter = false;
const reboots: { host: string; to: string; rolledBack: boolean }[] = [];

const marker = (h: Host): string => path.join(h.dir, 'reboot-requested');

async function writeBoot(h: Host): Promise<void> {
  await writeFile(path.join(h.dir, 'os-release'), `NAME=berth\nVERSION_ID=${h.version}\nVARIANT_ID=metal\n`);
  await writeFile(path.join(h.dir, 'cmdline'), `root=/dev/mapper/vroot berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-${h.slot} ro\n`);
}

/** A power cycle: berthd SIGKILLed, started again on what the disk boots next (the ready update, if any). */
async function powerCycle(h: Host, rollback: boolean): Promise<void> {
  const run = h.busy.then(async () => {
    const s = await h.api.updates.status().catch(() => undefined);
    const next = s?.state === 'ready' ? s.chosenVersion : undefined;
    await h.b.kill();
    h.api.close();
    if (next && !rollback) {
      h.version = next;
      h.slot = h.slot === 'A' ? 'B' : 'A';
    }
    reboots.push({ host: h.id, to: h.version, rolledBack: rollback && next !== undefined });
    await writeBoot(h);
    await h.b.start(60_000);
    h.api = BerthClient.connect({ socketPath: h.b.socket });
  });
  h.busy = run.catch(() => undefined);
  return run;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** What updates.reboot-command asked for, done: polls the marker files (a condition, not a timed sleep). */
async function rebootLoop(): Promise<void> {
  while (!stopRebooter) {
    for (const h of hosts) {
      if (!(await exists(marker(h)))) continue;
      await rm(marker(h), { force: true });
      const rollback = rollBackNext;
      rollBackNext = false;
      await powerCycle(h, rollback);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface SlotEvent { revision: number; key: string; type: 'put' | 'delete'; value: string }

/** A slot key's change (not the semaphore's, nor the end markers history() writes). */
const isSlot = (e: SlotEvent): boolean => e.key.startsWith(slotsPrefix(GROUP)) && !e.key.includes('~end-');

/** Every change of the slot keys and the semaphore since revision 1, in revision order, from etcd's history. */
async function history(): Promise<SlotEvent[]> {
  const end = `${slotsPrefix(GROUP)}~end-${Date.now()}`;
  const events: SlotEvent[] = [];
  // A fresh connection: the shared one may still point at a member the test killed.
  const kv = client();
  const watcher = await kv.watch().prefix(`/berth/${GROUP}/reboot-`).startRevision('1').create();
  try {
    await new Promise<void>((resolve, reject) => {
      watcher.on('error', reject);
      // A delete event's key-value carries the revision of the deletion as its mod_revision.
      const on = (type: 'put' | 'delete') => (k: { key: Buffer; value: Buffer; mod_revision: string }) => {
        const key = k.key.toString();
        if (key === end) return resolve();
        events.push({ revision: Number(k.mod_revision), key, type, value: k.value.toString() });
      };
      watcher.on('put', on('put'));
      watcher.on('delete', on('delete'));
      void kv.put(end).value('').then(() => kv.delete().key(end)).catch(reject);
    });
  } finally {
    await watcher.cancel();
    kv.close();
  }
  return events;
}

/** The most slot holders at any revision, by the slot keys and by the semaphore's own list. */
function maxHolders(events: SlotEvent[], from = 0): { keys: number; semaphore: number } {
  const held = new Set<string>();
  let keys = 0;
  let semaphore = 0;
  for (const e of events) {
    if (e.key === semaphoreKey(GROUP)) {
      if (e.type === 'put' && e.revision >= from) semaphore = Math.max(semaphore, (JSON.parse(e.value) as { holders: string[] }).holders.length);
      continue;
    }
    if (!isSlot(e)) continue;
    if (e.type === 'put') held.add(e.key);
    else held.delete(e.key);
    if (e.revision >= from) keys = Math.max(keys, held.size);
  }
  return { keys, semaphore };
}

async function records(): Promise<Map<string, { version: string; updateState: string; slot: string; lastError: string }>> {
  const all = await kv.getAll().prefix(hostsPrefix(GROUP)).strings();
  return new Map(Object.entries(all).map(([k, v]) => [k.slice(hostsPrefix(GROUP).length), JSON.parse(v) as { version: string; updateState: string; slot: string; lastError: string }]));
}

async function semaphore(): Promise<{ holders: string[]; failed: { host: string; reason: string }[] }> {
  const text = await kv.get(semaphoreKey(GROUP)).string();
  return text ? (JSON.parse(text) as { holders: string[]; failed: { host: string; reason: string }[] }) : { holders: [], failed: [] };
}

async function allOn(version: string, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    const r = await records();
    const sem = await semaphore();
    return hosts.every((h) => h.version === version && r.get(h.id)?.version === version) && sem.holders.length === 0;
  }, timeoutMs, `every host on ${version} with every slot given back`);
}

/** berthctl through any host's berthd that is up (the others may be in the middle of a "reboot"). */
async function cli(...args: string[]): ReturnType<typeof runCli> {
  let last: Awaited<ReturnType<typeof runCli>> | undefined;
  for (let round = 0; round < 3; round++) {
    for (const h of hosts) {
      last = await runCli(['--socket', h.b.socket, ...args]);
      if (!/cannot reach berthd/.test(last.stderr)) return last;
    }
  }
  return last!;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-rollout-'));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  await mkdir(path.join(dir, 'v1'));
  const v1 = await makeBuild(path.join(dir, 'v1'), '1.0.0', 2 * MiB);
  await makeDisk(v1, path.join(dir, 'disk.img'), { slotMib: 8 });
  for (const v of VERSIONS) {
    await mkdir(path.join(dir, v));
    const b = await makeBuild(path.join(dir, v), v, 2 * MiB);
    await publish(repo, { version: v, rootImage: b.rootGz, kernel: b.kernel, initramfs: b.initramfs, rootHash: b.rootHash, hashOffset: b.hashOffset });
  }
  repoServer = await serveStatic(repo);
  etcd = await TestEtcdCluster.start();
  kv = client();
  ctd = await TestContainerd.start();
  // Created one by one (cheap), started together (a berthd start is what takes time).
  for (let i = 0; i < N; i++) {
    const hdir = path.join(dir, `h${i}`);
    await mkdir(hdir);
    await copyFile(path.join(dir, 'disk.img'), path.join(hdir, 'disk.img'));
    const b = await TestBerthd.create({
      containerd: ctd,
      extraArgs: [
        '--namespace', `roll${i}`, '--os-release', path.join(hdir, 'os-release'), '--update-trusted-root', path.join(repo, 'metadata/1.root.json'),
        '--boot-disk', path.join(hdir, 'disk.img'), '--kernel-cmdline', path.join(hdir, 'cmdline'),
      ],
    });
    await writeFile(b.settingsDefaults, [
      '[settings.selinux]', 'mode = "auto"', '[settings.updates]', `metadata-base-url = "${repoServer.url}/metadata"`, `targets-base-url = "${repoServer.url}/targets"`,
      'ignore-waves = true', `reboot-command = ${JSON.stringify(`touch '${path.join(hdir, 'reboot-requested')}'`)}`, 'reboot-strategy = "etcd"',
      '[settings.fleet]', `etcd.endpoints = ${JSON.stringify(etcd.endpoints)}`, `group = "${GROUP}"`, `host-id = "h${i}"`, '',
    ].join('\n'));
    const h: Host = { id: `h${i}`, dir: hdir, b, api: undefined as unknown as BerthClient, version: '1.0.0', slot: 'A', busy: Promise.resolve() };
    await writeBoot(h);
    hosts.push(h);
  }
  await Promise.all(hosts.map(async (h) => {
    await h.b.start(90_000);
    h.api = BerthClient.connect({ socketPath: h.b.socket });
  }));
  rebooter = rebootLoop();
  await waitFor(async () => (await records()).size === N, 20_000, 'every host registered');
});

after(async () => {
  stopRebooter = true;
  await rebooter?.catch(() => undefined);
  for (const h of hosts) {
    await h.busy;
    h.api.close();
    await h.b.stop().catch(() => undefined);
  }
  kv?.close();
  await ctd?.stop();
  await etcd?.stop();
  await repoServer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a rolling update with max-concurrent 2: never more than 2 slot holders in etcd\'s history, every host ends on the new version', async () => {
  const bad = await cli('fleet', 'update', '--version', '2.0.0', '--max-concurrent', '0');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--max-concurrent/);
  const started = await cli('-o', 'json', 'fleet', 'update', '--version', '2.0.0', '--max-concurrent', '2');
  assert.equal(started.code, 0, started.stderr);
  assert.deepEqual(JSON.parse(started.stdout), { group: GROUP, rollout: { targetVersion: '2.0.0', maxConcurrent: 2, held: false, slotHolders: [], failed: [] } });
  await allOn('2.0.0', 120_000);
  const events = await history();
  const max = maxHolders(events);
  assert.ok(max.keys <= 2 && max.semaphore <= 2, `at most 2 holders (slot keys: ${max.keys}, semaphore: ${max.semaphore})`);
  assert.equal(max.keys, 2, 'two hosts did reboot at once (the limit was used, not just respected)');
  assert.equal(events.filter((e) => e.type === 'put' && isSlot(e)).length, N, 'one slot per host');
  assert.ok(reboots.every((r) => r.to === '2.0.0' && !r.rolledBack));
  const status = await cli('fleet', 'status');
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^rollout: 2\.0\.0 \(max 2 at once\); slots held: none$/m);
  for (const h of hosts) assert.equal((await h.api.updates.status()).runningVersion, '2.0.0', h.id);
  // One reboot each, so one slot taken each: berthd says so once per slot (its log, pino's JSON lines).
  for (const h of hosts) assert.equal(h.b.log().split('\n').filter((l) => l.includes('"msg":"fleet: reboot slot taken"')).length, 1, `${h.id}: "reboot slot taken" lines`);
});

/** etcd's revision when the second rollout began: the invariant is checked from there in the last test. */
let secondStart = 0;

test('hold: the hosts stage the new target and nobody gets a slot; a host whose update fails (rolled back) keeps its slot and halts the rollout', async () => {
  secondStart = Number((await kv.get(semaphoreKey(GROUP)).exec()).header.revision);
  assert.equal((await cli('fleet', 'hold')).code, 0);
  // A new target keeps the operator's hold: the hosts stage it, nobody reboots until resume.
  const held = await cli('-o', 'json', 'fleet', 'update', '--version', '3.0.0', '--max-concurrent', '2');
  assert.equal(held.code, 0, held.stderr);
  assert.equal((JSON.parse(held.stdout) as { rollout: { held: boolean } }).rollout.held, true);
  await waitFor(async () => {
    const r = await records();
    return hosts.every((h) => r.get(h.id)?.updateState === 'waiting-for-slot');
  }, 90_000, 'every host staged and waiting while the rollout is held');
  assert.deepEqual((await history()).filter((e) => e.revision > secondStart && e.type === 'put' && isSlot(e)), [], 'no slot granted while held');
  assert.match((await cli('fleet', 'status')).stdout, /HELD \(berthctl fleet resume\)/);

  // The first host to reboot comes back on its old version.
  rollBackNext = true;
  assert.equal((await cli('fleet', 'resume')).code, 0);
  let failedHost = '';
  await waitFor(async () => {
    const sem = await semaphore();
    failedHost = sem.failed[0]?.host ?? '';
    return failedHost !== '';
  }, 90_000, 'a host to report its failed update');
  const failedAt = (await history()).find((e) => e.key === semaphoreKey(GROUP) && e.revision > secondStart && (JSON.parse(e.value) as { failed: unknown[] }).failed.length > 0)!.revision;
  // The others wait for a slot (they would take one now if the group were not halted); a host that held
  // one with the failed host finishes its reboot.
  await waitFor(async () => {
    const r = await records();
    const sem = await semaphore();
    return r.get(failedHost)?.updateState === 'failed'
      && hosts.filter((h) => !sem.holders.includes(h.id) && h.version !== '3.0.0').every((h) => r.get(h.id)?.updateState === 'waiting-for-slot');
  }, 60_000, 'the failed host\'s record to say so, and every host without a slot waiting for one');
  const r = await records();
  assert.match(r.get(failedHost)!.lastError, /booted 2\.0\.0 instead of 3\.0\.0 \(rolled back\)/);
  assert.match(r.get(failedHost)!.slot, new RegExp(`reboot-slots/${failedHost}$`));
  const status = await cli('fleet', 'status');
  assert.match(status.stdout, new RegExp(`HALTED: ${failedHost} failed \\(booted 2\\.0\\.0 instead of 3\\.0\\.0 \\(rolled back\\)\\)`));
  const takenAfter = (await history()).filter((e) => e.revision > failedAt && e.type === 'put' && isSlot(e) && !e.key.endsWith(`/${failedHost}`));
  assert.deepEqual(takenAfter, [], 'no other host took a slot after the failure');
});

test('fleet resume continues the halted rollout; SIGKILL of the etcd leader and of a slot holder mid-rollout: the invariant holds and it completes', async () => {
  const resumed = await cli('-o', 'json', 'fleet', 'resume');
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual((JSON.parse(resumed.stdout) as { rollout: { failed: unknown[]; held: boolean } }).rollout, {
    targetVersion: '3.0.0', maxConcurrent: 2, held: false, slotHolders: (JSON.parse(resumed.stdout) as { rollout: { slotHolders: string[] } }).rollout.slotHolders, failed: [],
  });
  await waitFor(async () => (await semaphore()).holders.length > 0, 30_000, 'a slot taken after resume');
  const holders = (await semaphore()).holders;
  const leader = await etcd.leader();
  await etcd.kill(leader);
  // A host holding a slot dies (power loss) before or while it reboots: it comes back on what its disk boots.
  const holder = hosts.find((h) => holders.includes(h.id))!;
  await powerCycle(holder, false);
  await etcd.restart(leader);
  await allOn('3.0.0', 150_000);
  const max = maxHolders(await history(), secondStart);
  assert.ok(max.keys <= 2 && max.semaphore <= 2, `at most 2 holders (slot keys: ${max.keys}, semaphore: ${max.semaphore})`);
  assert.ok(reboots.some((r) => r.rolledBack), 'one reboot rolled back');
});
