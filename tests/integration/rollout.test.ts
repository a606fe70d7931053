// Guarded rollouts of a host container's image (issue 18), against a real containerd: the "Must show" list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { waitUnit } from '../support/units.js';
import { runCli } from '../support/cli.js';
import { writeOciArchive, type LayerEntry } from '../../src/images/oci-archive.js';
import { busyboxRootfs } from '../../src/images/busybox-rootfs.js';
import { BerthClient, type UnitStatus } from '../../src/cli/client.js';

const NS = 'berth';
const IDLE = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'];
const WATCH_MS = 4000;

// A and B4 healthy (they have /healthy), B1 exits 1 at once, B2 runs but fails its health check, B3 exists nowhere.
const IMAGES = {
  A: { ref: 'localhost/berth-test/rollout:a', cmd: IDLE, healthy: true },
  B1: { ref: 'localhost/berth-test/rollout:b1', cmd: ['/bin/sh', '-c', 'echo b1 fails; exit 1'], healthy: true },
  B2: { ref: 'localhost/berth-test/rollout:b2', cmd: IDLE, healthy: false },
  B4: { ref: 'localhost/berth-test/rollout:b4', cmd: IDLE, healthy: true },
} as const;
const B3 = 'localhost/berth-test/rollout:b3-never-built';

const controlUnit = `name = "control"
class = "host"
image = "${IMAGES.A.ref}"
persistent-storage = false
[health]
command = ["/bin/cat", "/healthy"]
interval = "1s"
timeout = "1s"
retries = 3
[rollout]
watch = "${WATCH_MS / 1000}s"
[stop]
timeout = "2s"
`;

let ctd: TestContainerd;
let b: TestBerthd;
let client: BerthClient;
let tmp: string;
const digests: Record<string, string> = {};

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-rollout-'));
  ctd = await TestContainerd.start();
  b = await TestBerthd.create({ containerd: ctd, units: { control: controlUnit } });
  // The images go in before berthd starts, so control starts from A at once.
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
  for (const [name, img] of Object.entries(IMAGES)) {
    const extra: LayerEntry[] = [{ type: 'file', path: 'variant', content: Buffer.from(`${name}\n`), mode: 0o644 }];
    if (img.healthy) extra.push({ type: 'file', path: 'healthy', content: Buffer.from('ok\n'), mode: 0o644 });
    const file = path.join(tmp, `${name}.tar`);
    await writeOciArchive(file, { ref: img.ref, layers: [busyboxRootfs(extra)], config: { cmd: [...img.cmd] } });
    const [imported] = await client.images.import(file, img.ref, { timeoutMs: 60_000 });
    digests[name] = imported!.digest;
  }
  await client.units.start('control');
  await waitUnit(client, 'control', (u) => u.state === 'running' && u.health === 'healthy', 20_000, 'control healthy on A');
  // The settings take over the unit (Bottlerocket's model); same image: no rollout, a plain restart.
  await client.settings.set({ 'host-containers.control.enabled': 'true', 'host-containers.control.source': IMAGES.A.ref });
  await waitUnit(client, 'control', (u) => u.state === 'running' && u.health === 'healthy' && u.runningImage === `${IMAGES.A.ref}@${digests.A}`, 20_000, 'control on A from settings');
});

after(async () => {
  client?.close();
  await b?.stop();
  await ctd?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const latestId = async (): Promise<number> => (await client.units.get('control')).rollout?.id ?? 0;

/** Set the source and wait until rollout `after + 1` has concluded. */
async function rollTo(ref: string, timeoutMs = 30_000): Promise<UnitStatus> {
  const before = await latestId();
  await client.settings.set({ 'host-containers.control.source': ref });
  return waitUnit(client, 'control', (u) => (u.rollout?.id ?? 0) > before && u.rollout?.phase === 'done' && u.state === 'running', timeoutMs, `rollout to ${ref} concluded`);
}

function assertRunsA(u: UnitStatus): void {
  assert.equal(u.state, 'running');
  assert.equal(u.runningImage?.endsWith(`@${digests.A}`), true, `runs A's digest: ${u.runningImage}`);
}

test('B exits 1 at once → A runs again within watch + a restart, rolled-back with exit code 1 (status, events); the same source again retries', async () => {
  const started = Date.now();
  const u = await rollTo(IMAGES.B1.ref);
  assert.ok(Date.now() - started < WATCH_MS + 10_000, `took ${Date.now() - started} ms`);
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assert.equal(u.rollout?.exitCode, 1);
  assert.match(u.rollout?.reason ?? '', /exited with status 1/);
  assert.equal(u.rollout?.from.digest, digests.A);
  assert.equal(u.rollout?.to.digest, digests.B1);
  assertRunsA(u);
  assert.equal(u.image, IMAGES.B1.ref, 'status says what was asked…');
  assert.ok(u.events.some((e) => /rollout \d+ rolled-back: .*exited with status 1/.test(e.message)), 'an event carries the outcome');
  const status = await runCli(['--socket', b.socket, 'status', 'control']);
  assert.match(status.stdout, /rollout:\s+#\d+ rolled-back: localhost\/berth-test\/rollout:a@sha256:\S+ → localhost\/berth-test\/rollout:b1@sha256:/);
  assert.match(status.stdout, /image:\s+localhost\/berth-test\/rollout:b1 \(asked; running localhost\/berth-test\/rollout:a@sha256:/, '…and, beside it, what runs');
  // `get` too: the setting (stdout, the document `apply` takes) and, beside it, what runs (stderr).
  const got = await runCli(['--socket', b.socket, 'get', 'host-containers.control']);
  assert.equal((JSON.parse(got.stdout) as { 'host-containers': { control: { source: string } } })['host-containers'].control.source, IMAGES.B1.ref);
  assert.match(got.stderr, /note: host-containers\.control\.source is localhost\/berth-test\/rollout:b1 \(asked\); control runs localhost\/berth-test\/rollout:a@sha256:\S+ \(rollout #\d+ rolled-back: exited with status 1\)/);
  // The failed image is kept for inspection.
  assert.ok((await client.images.list()).some((i) => i.name === IMAGES.B1.ref));
  // The same source again: a new rollout (and rolled back again).
  const id = u.rollout!.id;
  const again = await rollTo(IMAGES.B1.ref);
  assert.equal(again.rollout?.id, id + 1);
  assert.equal(again.rollout?.outcome, 'rolled-back');
  assertRunsA(again);
  // An unrelated commit does not retry it.
  await client.settings.set({ 'images.pull-policy': 'if-not-present' });
  assert.equal(await latestId(), id + 1);
});

test('B runs but fails its health check → rolled back to A, with the health check\'s output', async () => {
  const u = await rollTo(IMAGES.B2.ref);
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assert.match(u.rollout?.reason ?? '', /health check failed .*healthy/);
  assertRunsA(u);
});

test('B exists in no registry → rolled back with the pull error, nothing stopped at all', async () => {
  const before = await client.units.get('control');
  const u = await rollTo(B3);
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assert.match(u.rollout?.reason ?? '', /pull failed/);
  assert.equal(u.pid, before.pid, 'the running container was never touched');
  assert.equal(u.restarts, before.restarts);
  assertRunsA(u);
});

test('B healthy → B stays, A is still in the image store, history shows both digests (--output json)', async () => {
  const u = await rollTo(IMAGES.B4.ref);
  assert.equal(u.rollout?.outcome, 'succeeded');
  assert.equal(u.runningImage, `${IMAGES.B4.ref}@${digests.B4}`);
  assert.equal(u.image, IMAGES.B4.ref);
  assert.ok((await client.images.list()).some((i) => i.digest === digests.A), 'A kept until pruned');
  const history = await runCli(['--socket', b.socket, '--output', 'json', 'rollout', 'history', 'control']);
  assert.equal(history.code, 0, history.stderr);
  const list = JSON.parse(history.stdout) as Array<{ outcome: string; from: { digest: string }; to: { digest: string } }>;
  const last = list.at(-1)!;
  assert.deepEqual([last.outcome, last.from.digest, last.to.digest], ['succeeded', digests.A, digests.B4]);
  assert.deepEqual(list.map((r) => r.outcome), ['rolled-back', 'rolled-back', 'rolled-back', 'rolled-back', 'succeeded']);
});

test('berthd SIGKILLed during the watch → after the restart the rollout concludes; one container all along', async () => {
  const before = await latestId();
  await client.settings.set({ 'host-containers.control.source': IMAGES.A.ref });
  await waitUnit(client, 'control', (u) => (u.rollout?.id ?? 0) > before && u.rollout?.phase === 'watching', 20_000, 'watching A');
  client.close();
  await b.kill();
  const tasks = await ctd.client(NS).listTasks();
  assert.deepEqual(tasks.filter((t) => t.id === 'control').length, 1, 'the new container runs on while berthd is down');
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
  const u = await waitUnit(client, 'control', (x) => x.rollout?.phase === 'done' && x.state === 'running', 30_000, 'rollout concluded after restart');
  assert.equal(u.rollout?.outcome, 'succeeded');
  assertRunsA(u);
  const containers = (await ctd.client(NS).listContainers()).filter((c) => c.labels['berth.unit'] === 'control');
  assert.equal(containers.length, 1);
});

test('containerd restarted during the watch → the rollout still concludes (B2 unhealthy: A back); one container', async () => {
  const before = await latestId();
  await client.settings.set({ 'host-containers.control.source': IMAGES.B2.ref });
  await waitUnit(client, 'control', (u) => (u.rollout?.id ?? 0) > before && u.rollout?.phase === 'watching', 20_000, 'watching B2');
  await ctd.restart();
  const u = await waitUnit(client, 'control', (x) => (x.rollout?.id ?? 0) > before && x.rollout?.phase === 'done' && x.state === 'running', 60_000, 'rollout concluded after the containerd restart');
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assertRunsA(u);
  const containers = (await ctd.client(NS).listContainers()).filter((c) => c.labels['berth.unit'] === 'control');
  assert.equal(containers.length, 1);
});
