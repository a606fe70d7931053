// `berthctl update …` end to end without containerd: the API server with berthd's own updater wiring
// (src/daemon/updates.ts: seed, os-release, the settings store), a repository built by berth-repo served
// on 127.0.0.1, and a fake installer in place of the disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startApiServer } from '../../src/api/server.js';
import { defaultSettingsFile } from '../../src/daemon/berthd.js';
import { ensureUpdateSeed, startUpdates } from '../../src/daemon/updates.js';
import { SettingsStore } from '../../src/settings/index.js';
import { NoBootDiskInstaller } from '../../src/updates/installer.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost } from '../support/api-fakes.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { FakeInstaller } from '../support/update-host.js';
import { fakeBuild, mustRepo, publish, serveStatic } from '../support/update-repo.js';

test('berthctl update status|check|apply|cancel over the API; seed chosen once and kept', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-update-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  await publish(repo, await fakeBuild(dir, '2.0.0'));
  const server = await serveStatic(repo);
  t.after(() => server.close());

  const stateDir = path.join(dir, 'state');
  const osRelease = path.join(dir, 'os-release');
  await writeFile(osRelease, 'NAME="berth"\nVERSION_ID=1.0.0\nVARIANT_ID="metal"\n');
  const settings = await SettingsStore.open({ stateDir, defaultsFile: defaultSettingsFile() });
  await settings.set({ 'updates.metadata-base-url': `${server.url}/metadata`, 'updates.targets-base-url': `${server.url}/targets` });
  const installer = new FakeInstaller();
  const logger = pino({ level: 'silent' });
  const wiring = { stateDir, settings, trustedRoot: path.join(repo, 'metadata/1.root.json'), osRelease, fallbackVersion: '0.0.1', logger };
  const updates = await startUpdates({ ...wiring, installer });
  await ensureUpdateSeed(settings, logger);

  const seed = settings.getFlat('updates.seed')['updates.seed'];
  assert.match(String(seed), /^\d{1,4}$/, 'a seed was chosen at first start');
  assert.ok(Number(seed) <= 2047);
  assert.equal(await ensureUpdateSeed(await SettingsStore.open({ stateDir, defaultsFile: defaultSettingsFile() }), logger), Number(seed));
  const reopened = await SettingsStore.open({ stateDir, defaultsFile: defaultSettingsFile() });
  assert.equal(reopened.getFlat('updates.seed')['updates.seed'], seed, 'persisted, and not chosen again at the next start');

  const api = await startApiServer({
    socketPath: path.join(dir, 'api.sock'), supervisor: new FakeSupervisor(), settings: new FakeSettings(), images: new FakeImages(), host: fakeHost(), updates,
  });
  t.after(() => api.close());
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli(['--socket', path.join(dir, 'api.sock'), ...args]);
  const json = async (...args: string[]): Promise<Record<string, unknown>> => {
    const r = await cli('-o', 'json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  assert.deepEqual(await json('update', 'status'), {
    state: 'idle', runningVersion: '1.0.0', availableVersions: [],
    // The host's os-release and the installer's slots (what berth-apiclient answers brupop with).
    os: { variant: 'metal', arch: process.arch === 'arm64' ? 'aarch64' : 'x86_64', prettyName: 'berth 1.0.0', buildId: '' },
    activePartition: { slot: 'A', nextToBoot: true }, stagingPartition: { slot: 'B', nextToBoot: false },
  });
  const checked = await cli('update', 'check');
  assert.equal(checked.code, 0, checked.stderr);
  assert.match(checked.stdout, /^state: +available$/m);
  assert.match(checked.stdout, /^available: +2\.0\.0$/m);
  assert.match(checked.stdout, /^running: +1\.0\.0$/m);

  // One operation at a time, across the API: ABORTED, naming the running one.
  installer.hold();
  const started = await json('update', 'apply', '--no-wait');
  assert.equal((started['operation'] as { kind: string }).kind, 'apply');
  await installer.started;
  const busy = await cli('update', 'check');
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /^berthctl: update apply of 2\.0\.0 is running \(since .*\); one update operation at a time: wait for it or run update cancel$/m);
  installer.release();

  let ready: Record<string, unknown> = {};
  await waitFor(async () => (ready = await json('update', 'status'))['state'] === 'ready', 20_000, 'the apply to end at ready');
  assert.equal(ready['stagedVersion'], '2.0.0');
  assert.equal(installer.installs.length, 1);
  assert.equal(installer.installs[0]!.plan.version, '2.0.0');

  const cancelled = await json('update', 'cancel');
  assert.equal(cancelled['state'], 'staged');
  // apply (waiting, the default) from staged: the installer runs again, the command ends at ready.
  const applied = await json('update', 'apply');
  assert.equal(applied['state'], 'ready');
  assert.equal(installer.installs.length, 2);
});

test('berthd\'s placeholder installer: apply fails with "no boot disk", nothing else changes', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-update-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  await publish(repo, await fakeBuild(dir, '2.0.0'));
  const stateDir = path.join(dir, 'state');
  const settings = await SettingsStore.open({ stateDir, defaultsFile: defaultSettingsFile() });
  await settings.set({ 'updates.metadata-base-url': `file://${repo}/metadata`, 'updates.targets-base-url': `file://${repo}/targets` });
  const updates = await startUpdates({
    stateDir, settings, trustedRoot: path.join(repo, 'metadata/1.root.json'), osRelease: path.join(dir, 'none'),
    fallbackVersion: '1.0.0', logger: pino({ level: 'silent' }), installer: new NoBootDiskInstaller(),
  });
  await ensureUpdateSeed(settings, pino({ level: 'silent' }));
  const api = await startApiServer({
    socketPath: path.join(dir, 'api.sock'), supervisor: new FakeSupervisor(), settings: new FakeSettings(), images: new FakeImages(), host: fakeHost(), updates,
  });
  t.after(() => api.close());
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli(['--socket', path.join(dir, 'api.sock'), ...args]);
  // No os-release: variant "default", so publish for it too.
  await publish(repo, await fakeBuild(dir, '2.0.1'), [], 'default');
  assert.equal((await cli('update', 'check')).code, 0);
  const r = await cli('update', 'apply');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^berthctl: update apply failed: installer \(apply\): no boot disk: /m);
  const s = JSON.parse((await cli('-o', 'json', 'update', 'status')).stdout) as { state: string; lastError: { message: string } };
  assert.equal(s.state, 'staged', 'downloaded and verified; the disk step is what is missing');
  assert.match(s.lastError.message, /no boot disk/);
});
