// The updater's Bottlerocket steps one at a time (issue 19, brupop): prepare (download + verify → staged),
// activate (installer → ready), deactivate (ready → staged), the most recent command persisted with its
// outcome, and the reboot command. A fake repository (no network) and the tests' fake installer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { UpdatesSettings } from '../../src/settings/families/updates.js';
import { UpdateError } from '../../src/updates/errors.js';
import type { ManifestUpdate } from '../../src/updates/manifest.js';
import { runRebootCommand } from '../../src/updates/reboot.js';
import type { RebootGate, RebootPlan, RebootWait } from '../../src/updates/reboot-gate.js';
import { Updater } from '../../src/updates/updater.js';
import { FakeInstaller } from '../support/update-host.js';

const update = (version: string): ManifestUpdate => ({
  variant: 'metal', arch: 'x86_64', version, images: { root: 'root', kernel: 'k', initramfs: 'i' },
  rootHash: 'a'.repeat(64), hashOffset: 0, waves: [], migrations: [],
});

async function host(t: { after: (fn: () => Promise<void>) => void }, o: { failManifest?: () => string | undefined; reboot?: (c: string) => Promise<void>; rebootGate?: RebootGate } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-steps-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const settings: UpdatesSettings = {
    metadataBaseUrl: 'https://u.example/m', targetsBaseUrl: 'https://u.example/t', versionLock: 'latest', ignoreWaves: true, seed: 5, rebootCommand: 'true', rebootStrategy: 'immediate', healthChecks: [], healthTimeout: 300_000,
  };
  const installer = new FakeInstaller();
  const downloads: string[] = [];
  const open = (): Promise<Updater> => Updater.open({
    host: { variant: 'metal', arch: 'x86_64', version: '1.0.0' },
    settings: () => settings, installer, dir: path.join(dir, 'updates'), trustedRootFile: path.join(dir, 'root.json'),
    repository: () => ({
      manifest: () => {
        const failure = o.failManifest?.();
        return failure ? Promise.reject(new Error(failure)) : Promise.resolve({ schema: 1, updates: [update('2.0.0')] });
      },
      download: async (u, into) => {
        downloads.push(u.version);
        const f = path.join(into, 'f');
        await import('node:fs/promises').then((fs) => fs.mkdir(into, { recursive: true }));
        await writeFile(f, u.version);
        return { rootImage: f, kernel: f, initramfs: f, migrations: [] };
      },
    }),
    ...(o.reboot ? { reboot: o.reboot } : {}),
    ...(o.rebootGate ? { rebootGate: o.rebootGate } : {}),
  });
  return { dir, settings, installer, downloads, updater: await open(), open };
}

async function refused(p: Promise<unknown>, kind: string, re: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof UpdateError, `expected an UpdateError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, re);
}

test('prepare → staged (download only), activate → ready (installer), deactivate → staged; each recorded', async (t) => {
  const { updater, installer, downloads, open } = await host(t);
  assert.equal(updater.status().mostRecentCommand, undefined, 'no command before the first');
  await refused(updater.prepare(), 'state', /nothing to prepare: the update state is idle/);
  await refused(updater.activate(), 'state', /nothing to activate: the update state is idle/);

  const checked = await updater.check();
  assert.equal(checked.state, 'available');
  assert.deepEqual(checked.chosenUpdate, { arch: 'x86_64', version: '2.0.0', variant: 'metal' });
  assert.equal(checked.mostRecentCommand?.cmdType, 'refresh');
  assert.equal(checked.mostRecentCommand?.cmdStatus, 'Success');
  assert.ok(!Number.isNaN(Date.parse(checked.mostRecentCommand.timestamp)));

  await refused(updater.activate(), 'state', /nothing to activate: the update state is available/);
  const prep = await updater.prepare();
  assert.equal(prep.status.operation?.kind, 'prepare');
  assert.deepEqual([prep.status.mostRecentCommand?.cmdType, prep.status.mostRecentCommand?.cmdStatus], ['prepare', 'Unknown'], 'Unknown while it runs');
  await prep.finished;
  let s = updater.status();
  assert.equal(s.state, 'staged');
  assert.deepEqual([s.mostRecentCommand?.cmdType, s.mostRecentCommand?.cmdStatus, s.mostRecentCommand?.exitStatus], ['prepare', 'Success', 0]);
  assert.deepEqual(downloads, ['2.0.0']);
  assert.equal(installer.installs.length, 0, 'prepare never reaches the installer');

  await (await updater.activate()).finished;
  s = updater.status();
  assert.equal(s.state, 'ready');
  assert.deepEqual([s.mostRecentCommand?.cmdType, s.mostRecentCommand?.cmdStatus], ['activate', 'Success']);
  assert.equal(installer.installs.length, 1);
  assert.equal(downloads.length, 1, 'activate downloads nothing');

  await refused(updater.prepare(), 'state', /nothing to prepare: the update state is ready/);
  const d = await updater.deactivate();
  assert.equal(d.state, 'staged');
  assert.deepEqual([d.mostRecentCommand?.cmdType, d.mostRecentCommand?.cmdStatus], ['deactivate', 'Success']);
  assert.equal(installer.deactivations, 1);
  await refused(updater.deactivate(), 'state', /nothing to deactivate: the update state is staged/);

  // Persisted: a restarted berthd reports the same command.
  const again = (await open()).status();
  assert.deepEqual(again.mostRecentCommand, d.mostRecentCommand);
  assert.equal(again.state, 'staged');
});

test('one operation at a time: anything while activate runs is busy; its failure is recorded Failed with stderr', async (t) => {
  const { updater, installer } = await host(t);
  await updater.check();
  await (await updater.prepare()).finished;
  installer.hold();
  const act = await updater.activate();
  await installer.started;
  await refused(updater.check(), 'busy', /^update activate of 2\.0\.0 is running/);
  await refused(updater.prepare(), 'busy', /update activate of 2\.0\.0 is running/);
  await refused(updater.deactivate(), 'busy', /update activate/);
  await refused(updater.reboot(), 'busy', /update activate/);
  assert.deepEqual([updater.status().mostRecentCommand?.cmdType, updater.status().mostRecentCommand?.cmdStatus], ['activate', 'Unknown'], 'a refused call records nothing');
  await updater.cancel();
  await act.finished.catch(() => undefined);
  const s = updater.status();
  assert.equal(s.state, 'staged');
  assert.deepEqual([s.mostRecentCommand?.cmdType, s.mostRecentCommand?.cmdStatus, s.mostRecentCommand?.exitStatus, s.mostRecentCommand?.stderr], ['activate', 'Failed', 1, 'update activate was cancelled']);
});

test('a refresh that fails is recorded Failed, with the error as stderr; apply records prepare then activate', async (t) => {
  let failure: string | undefined = 'repository unreachable';
  const { updater, dir } = await host(t, { failManifest: () => failure });
  await assert.rejects(updater.check(), /repository unreachable/);
  const c = updater.status().mostRecentCommand;
  assert.deepEqual([c?.cmdType, c?.cmdStatus, c?.exitStatus, c?.stderr], ['refresh', 'Failed', 1, 'repository unreachable']);
  const onDisk = JSON.parse(await readFile(path.join(dir, 'updates', 'state.json'), 'utf8')) as { mostRecentCommand: { cmdStatus: string } };
  assert.equal(onDisk.mostRecentCommand.cmdStatus, 'Failed', 'in the state file');
  failure = undefined;
  await updater.check();
  await (await updater.apply()).finished;
  assert.deepEqual([updater.status().state, updater.status().mostRecentCommand?.cmdType, updater.status().mostRecentCommand?.cmdStatus], ['ready', 'activate', 'Success']);
});

test('reboot runs updates.reboot-command; its failure names the setting, exit status and stderr', async (t) => {
  const ran: string[] = [];
  const { updater, settings } = await host(t, { reboot: async (c) => void ran.push(c) });
  settings.rebootCommand = 'echo rebooting';
  await updater.reboot();
  assert.deepEqual(ran, ['echo rebooting']);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-reboot-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'marker');
  await runRebootCommand(`echo rebooted > '${marker}'`);
  assert.equal(await readFile(marker, 'utf8'), 'rebooted\n');
  await assert.rejects(runRebootCommand('echo no >&2; exit 3'), /^Error: exited with 3: no$/);
  const real = await host(t);
  real.settings.rebootCommand = 'echo "no reboot here" >&2; exit 4';
  await refused(real.updater.reboot(), 'reboot', /^updates\.reboot-command \(echo "no reboot here" >&2; exit 4\) failed: exited with 4: no reboot here$/);
});

test('a state a command reaches is never shown beside that command still Unknown (brupop polls for Ready, then reads it)', async (t) => {
  const { updater } = await host(t);
  const seen: string[] = [];
  let polling = true;
  // Poll between every I/O callback while the steps run, as brupop's agent polls /updates/status.
  const poll = (): void => {
    const s = updater.status();
    seen.push(`${s.state}/${s.mostRecentCommand?.cmdType ?? '-'}/${s.mostRecentCommand?.cmdStatus ?? '-'}`);
    if (polling) setImmediate(poll);
  };
  poll();
  try {
    await updater.check();
    await (await updater.prepare()).finished;
    await (await updater.activate()).finished;
    await updater.deactivate();
  } finally {
    polling = false;
  }
  const mixed = [...new Set(seen)].filter((x) => /^(available\/refresh|staged\/prepare|ready\/activate|staged\/deactivate)\/Unknown$/.test(x));
  assert.deepEqual(mixed, [], `states shown with their command still Unknown: ${mixed.join(', ')}`);
  assert.ok(seen.includes('ready/activate/Success') && seen.includes('staged/deactivate/Success'), [...new Set(seen)].join(' '));
});

/** A gate that waits until told (or its wait's signal aborts), as a fleet's reboot slot does. */
function heldGate(): { gate: RebootGate; asked: { plan: RebootPlan; wait: RebootWait | undefined }[]; grant(): void; refuse(err: Error): void; failures: string[] } {
  const asked: { plan: RebootPlan; wait: RebootWait | undefined }[] = [];
  const failures: string[] = [];
  let settle: { grant(): void; refuse(err: Error): void } = { grant: () => undefined, refuse: () => undefined };
  const gate: RebootGate = {
    beforeReboot: (plan, wait) => new Promise<void>((resolve, reject) => {
      asked.push({ plan, wait });
      settle = { grant: resolve, refuse: reject };
      wait?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true });
    }),
    rebootFailed: async (_plan, reason) => void failures.push(reason),
  };
  return { gate, asked, failures, grant: () => settle.grant(), refuse: (e) => settle.refuse(e) };
}

test('a reboot in two halves: the gate (an operation: others busy, update cancel ends its wait), the answer, then the command', async (t) => {
  const ran: string[] = [];
  const g = heldGate();
  const { updater, settings } = await host(t, { reboot: async (c) => void ran.push(c), rebootGate: g.gate });
  settings.rebootCommand = 'systemctl reboot';
  await updater.check();
  await (await updater.apply()).finished;

  // Waiting for the slot is the running operation: the rest is refused, naming it; cancel ends the wait.
  const waiting = updater.prepareReboot({ maxWaitMs: 5000 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(g.asked.map((a) => [a.plan, a.wait?.maxWaitMs]), [[{ from: '1.0.0', to: '2.0.0' }, 5000]]);
  assert.equal(updater.status().operation?.kind, 'reboot');
  await refused(updater.check(), 'busy', /^update reboot is running/);
  await refused(updater.prepareReboot(), 'busy', /update reboot is running/);
  await updater.cancel();
  await refused(waiting, 'cancelled', /^update reboot was cancelled$/);
  assert.equal(updater.status().operation, undefined);
  assert.deepEqual(ran, [], 'no command ran');

  // The caller going away (its signal) ends the wait too.
  const gone = new AbortController();
  const left = updater.prepareReboot({ maxWaitMs: 5000, signal: gone.signal });
  await new Promise((r) => setImmediate(r));
  gone.abort();
  await refused(left, 'cancelled', /cancelled/);

  // Granted: the answer first; the command only when `run` is called (after the API's answer is out), once.
  const granted = updater.prepareReboot({ maxWaitMs: 5000 });
  await new Promise((r) => setImmediate(r));
  g.grant();
  const start = await granted;
  assert.deepEqual([start.to, start.message], ['2.0.0', 'rebooting into 2.0.0']);
  assert.deepEqual(ran, [], 'the command waits for run()');
  assert.equal(updater.status().operation?.kind, 'reboot', 'still one operation until the command is over');
  await Promise.all([start.run(), start.run()]);
  assert.deepEqual(ran, ['systemctl reboot'], 'run once');
  assert.equal(updater.status().operation, undefined);
});

test('the gate\'s refusal keeps its code (no slot: RESOURCE_EXHAUSTED); a failed command is told to the gate', async (t) => {
  const g = heldGate();
  const { updater, settings } = await host(t, { rebootGate: g.gate });
  const refusal = updater.prepareReboot({ maxWaitMs: 0 });
  await new Promise((r) => setImmediate(r));
  g.refuse(Object.assign(new Error('no reboot slot is free for this host in fleet group g after waiting 0 ms: all 1 reboot slots are held (h2)'), { code: 8 }));
  const err = await refusal.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof UpdateError);
  assert.deepEqual([err.kind, err.code], ['no-slot', 8]);
  assert.match(err.message, /^no reboot slot is free .*held \(h2\)$/);
  assert.deepEqual([updater.status().lastError?.operation, updater.status().operation], ['reboot', undefined]);

  settings.rebootCommand = 'echo "no reboot here" >&2; exit 4';
  const next = updater.prepareReboot({ maxWaitMs: 0 });
  await new Promise((r) => setImmediate(r));
  g.grant();
  await refused((await next).run(), 'reboot', /exited with 4: no reboot here$/);
  assert.deepEqual(g.failures, ['updates.reboot-command (echo "no reboot here" >&2; exit 4) failed: exited with 4: no reboot here']);
  assert.equal(updater.status().lastError?.operation, 'reboot');
});
