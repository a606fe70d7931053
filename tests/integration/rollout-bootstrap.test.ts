// Guarded rollouts of a bootstrap container's image (issue 18), against a real containerd. A bootstrap
// container is healthy when it exits 0 within `rollout.watch`; otherwise its previous image is put back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { waitUnit } from '../support/units.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { writeOciArchive } from '../../src/images/oci-archive.js';
import { busyboxRootfs } from '../../src/images/busybox-rootfs.js';
import { BerthClient, type UnitStatus } from '../../src/cli/client.js';

const IDLE = ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'];
const WATCH_MS = 4000;

// A and B0 exit 0, B1 exits 1, HANG never ends, MISSING exists nowhere.
const IMAGES = {
  A: { ref: 'localhost/berth-test/boot-rollout:a', cmd: ['/bin/sh', '-c', 'echo a ran; exit 0'] },
  B1: { ref: 'localhost/berth-test/boot-rollout:b1', cmd: ['/bin/sh', '-c', 'echo b1 fails; exit 1'] },
  HANG: { ref: 'localhost/berth-test/boot-rollout:hang', cmd: IDLE },
  B0: { ref: 'localhost/berth-test/boot-rollout:b0', cmd: ['/bin/sh', '-c', 'echo b0 ran; exit 0'] },
} as const;
const MISSING = 'localhost/berth-test/boot-rollout:never-built';

// `setup` is essential and its image is not there when berthd starts: the host is held at its start-up
// gate (`after` does not start) until a rollout of `setup` completes a run.
const setupUnit = `name = "setup"
class = "bootstrap"
image = "${IMAGES.A.ref}"
persistent-storage = false
[bootstrap]
mode = "always"
essential = true
`;
const afterUnit = `name = "after"
class = "host"
image = "${IMAGES.A.ref}"
command = ${JSON.stringify(IDLE)}
persistent-storage = false
[stop]
timeout = "2s"
`;

let ctd: TestContainerd;
let b: TestBerthd;
let client: BerthClient;
let tmp: string;
const digests: Record<string, string> = {};

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-boot-rollout-'));
  ctd = await TestContainerd.start();
  b = await TestBerthd.create({ containerd: ctd, units: { setup: setupUnit, after: afterUnit } });
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
  for (const [name, img] of Object.entries(IMAGES)) {
    const file = path.join(tmp, `${name}.tar`);
    await writeOciArchive(file, { ref: img.ref, layers: [busyboxRootfs()], config: { cmd: [...img.cmd] } });
    const [imported] = await client.images.import(file, img.ref, { timeoutMs: 60_000 });
    digests[name] = imported!.digest;
  }
});

after(async () => {
  client?.close();
  await b?.stop();
  await ctd?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const latestId = async (): Promise<number> => (await client.units.get('setup')).rollout?.id ?? 0;

/** Set the source (the settings take the unit over: mode and essential as its file says) and wait until a new rollout concluded. */
async function rollTo(ref: string, timeoutMs = 30_000): Promise<UnitStatus> {
  const before = await latestId();
  await client.settings.set({
    'bootstrap-containers.setup.source': ref, 'bootstrap-containers.setup.mode': 'always',
    'bootstrap-containers.setup.essential': 'true', 'bootstrap-containers.setup.rollout.watch': `${WATCH_MS / 1000}s`,
  });
  return waitUnit(client, 'setup', (u) => (u.rollout?.id ?? 0) > before && u.rollout?.phase === 'done', timeoutMs, `rollout to ${ref} concluded`);
}

const completedRuns = (u: UnitStatus): number => u.events.filter((e) => e.message === 'completed (exit 0)').length;

test('held at the gate; B exits 1 → A back and run again (mode always), rolled-back with exit code 1 (status, events, get); the gate opens', async () => {
  const held = await client.units.get('setup');
  assert.equal(held.state, 'failed', 'the essential unit failed at start-up (its image was not there)');
  assert.notEqual((await client.units.get('after')).state, 'running', 'the host is held at its gate');
  const u = await rollTo(IMAGES.B1.ref);
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assert.equal(u.rollout?.exitCode, 1);
  assert.match(u.rollout?.reason ?? '', /exited with status 1/);
  assert.equal(u.rollout?.from.digest, digests.A);
  assert.equal(u.rollout?.to.digest, digests.B1);
  assert.equal(u.state, 'exited', 'A ran again to completion');
  assert.equal(u.exitCode, 0);
  assert.equal(u.runningImage, `${IMAGES.A.ref}@${digests.A}`);
  assert.equal(u.image, IMAGES.B1.ref, 'status says what was asked…');
  assert.ok(u.events.some((e) => /rollout \d+ rolled-back: .*exited with status 1/.test(e.message)), 'an event carries the outcome');
  // A run completed: the gate opens, the host unit starts.
  await waitUnit(client, 'after', (x) => x.state === 'running', 20_000, 'after running once the gate opened');
  const status = await runCli(['--socket', b.socket, 'status', 'setup']);
  assert.match(status.stdout, /rollout:\s+#\d+ rolled-back: localhost\/berth-test\/boot-rollout:a@sha256:\S+ → localhost\/berth-test\/boot-rollout:b1@sha256:\S+; exited with status 1/);
  assert.match(status.stdout, /image:\s+localhost\/berth-test\/boot-rollout:b1 \(asked; running localhost\/berth-test\/boot-rollout:a@sha256:/, '…and, beside it, what runs');
  const got = await runCli(['--socket', b.socket, 'get', 'bootstrap-containers.setup']);
  assert.equal((JSON.parse(got.stdout) as { 'bootstrap-containers': { setup: { source: string } } })['bootstrap-containers'].setup.source, IMAGES.B1.ref);
  assert.match(got.stderr, /note: bootstrap-containers\.setup\.source is localhost\/berth-test\/boot-rollout:b1 \(asked\); setup runs localhost\/berth-test\/boot-rollout:a@sha256:\S+ \(rollout #\d+ rolled-back: exited with status 1\)/);
  assert.ok((await client.images.list()).some((i) => i.name === IMAGES.B1.ref), 'the failed image is kept');
  // The same source again retries (a new rollout, rolled back again); the host unit is not touched.
  const afterPid = (await client.units.get('after')).pid;
  const again = await rollTo(IMAGES.B1.ref);
  assert.equal(again.rollout?.id, u.rollout!.id + 1);
  assert.equal(again.rollout?.outcome, 'rolled-back');
  assert.equal(again.runningImage, `${IMAGES.A.ref}@${digests.A}`);
  assert.equal((await client.units.get('after')).pid, afterPid);
});

test('B does not finish within rollout.watch → stopped, A back, rolled-back', async () => {
  const started = Date.now();
  const u = await rollTo(IMAGES.HANG.ref);
  assert.ok(Date.now() - started >= WATCH_MS, 'not before the watch ended');
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assert.match(u.rollout?.reason ?? '', /did not finish within the 4 s watch/);
  assert.equal(u.runningImage, `${IMAGES.A.ref}@${digests.A}`);
  const left = (await ctd.client(b.namespace).listContainers()).filter((c) => c.labels['berth.unit'] === 'setup');
  assert.equal(left.length, 0, 'no container left behind');
});

test('B exists in no registry → rolled back with the pull error; nothing ran at all', async () => {
  const before = await client.units.get('setup');
  const u = await rollTo(MISSING);
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assert.match(u.rollout?.reason ?? '', /pull failed/);
  assert.equal(completedRuns(u), completedRuns(before), 'no run');
  assert.equal(u.events.filter((e) => e.state === 'running').length, before.events.filter((e) => e.state === 'running').length);
  assert.equal(u.state, before.state);
  assert.equal(u.runningImage, `${IMAGES.A.ref}@${digests.A}`);
});

test('berthd SIGKILLed during the trial run → after the restart: rolled back (result unknown), A runs again, the trial container is gone', async () => {
  const before = await latestId();
  const afterPid = (await client.units.get('after')).pid;
  await client.settings.set({ 'bootstrap-containers.setup.source': IMAGES.HANG.ref, 'bootstrap-containers.setup.rollout.watch': '60s' });
  await waitUnit(client, 'setup', (u) => (u.rollout?.id ?? 0) > before && u.rollout?.phase === 'watching' && u.state === 'running', 20_000, 'trial of HANG running');
  client.close();
  await b.kill();
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
  const u = await waitUnit(client, 'setup', (x) => x.rollout?.phase === 'done' && completedRuns(x) > 0, 30_000, 'A ran again after the restart');
  assert.equal(u.rollout?.outcome, 'rolled-back');
  assert.match(u.rollout?.reason ?? '', /result is unknown/);
  assert.equal(u.state, 'exited');
  assert.equal(u.runningImage, `${IMAGES.A.ref}@${digests.A}`);
  const left = (await ctd.client(b.namespace).listContainers()).filter((c) => c.labels['berth.unit'] === 'setup');
  assert.equal(left.length, 0, 'the trial container was removed');
  assert.equal((await client.units.get('after')).pid, afterPid, 'the host unit was adopted, not restarted');
});

test('B exits 0 → B stays; history shows both digests (--output json)', async () => {
  const u = await rollTo(IMAGES.B0.ref);
  assert.equal(u.rollout?.outcome, 'succeeded');
  assert.equal(u.state, 'exited');
  assert.equal(u.runningImage, `${IMAGES.B0.ref}@${digests.B0}`);
  assert.equal(u.image, IMAGES.B0.ref);
  assert.ok((await client.images.list()).some((i) => i.digest === digests.A), 'A kept until pruned');
  const history = await runCli(['--socket', b.socket, '--output', 'json', 'rollout', 'history', 'setup']);
  assert.equal(history.code, 0, history.stderr);
  const list = JSON.parse(history.stdout) as Array<{ outcome: string; from: { digest: string }; to: { digest: string } }>;
  const last = list.at(-1)!;
  assert.deepEqual([last.outcome, last.from.digest, last.to.digest], ['succeeded', digests.A, digests.B0]);
  assert.deepEqual(list.map((r) => r.outcome), ['rolled-back', 'rolled-back', 'rolled-back', 'rolled-back', 'rolled-back', 'succeeded']);
});

test('rollout.guard = false: a source change is no rollout (it takes effect at the next run, unguarded)', async () => {
  const before = await latestId();
  await client.settings.set({ 'bootstrap-containers.setup.rollout.guard': 'false', 'bootstrap-containers.setup.source': IMAGES.B1.ref });
  // A plain change emits no unit event: wait on the status itself.
  await waitFor(async () => (await client.units.get('setup')).image === IMAGES.B1.ref, 10_000, 'B1 asked');
  const u = await client.units.get('setup');
  assert.equal(u.rollout?.id ?? 0, before, 'no new rollout');
  assert.equal(u.state, 'exited', 'not run');
});
