// Settings migrations and rollback end to end without a VM: a repository built by berth-repo (a version
// shipping a migration with --migration), served on 127.0.0.1; a GPT disk image file built by image/disk.sh as
// the boot disk; berthctl over the API. A "boot" is what berthd's start does, in its order, with the
// version from --os-release: settings migrated for the running version (src/daemon/updates.ts's
// migrateSettingsForVersion, which berthd's main calls before the settings store opens), the store opened,
// the updater wired to the disk. On a disk image file the running slot is the default entry's, so a boot
// after `apply` runs the new version, and after `rollback` the old one. As root (veritysetup, loop devices).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startApiServer } from '../../src/api/server.js';
import { defaultSettingsFile } from '../../src/daemon/berthd.js';
import { migrateSettingsForVersion, startUpdates } from '../../src/daemon/updates.js';
import { SettingsStore, settingsFilePath } from '../../src/settings/index.js';
import { readGpt } from '../../src/updates/disk/index.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost } from '../support/api-fakes.js';
import { runCli } from '../support/cli.js';
import { hashRange, makeBuild, makeDisk, mdir, MiB } from '../support/disk-image.js';
import { mustRepo, publish, serveStatic } from '../support/update-repo.js';
import { waitFor } from '../support/wait.js';

const RENAME = {
  'berth-migration': 1,
  description: 'the admin host container is called shell from 2.0.0 on; workloads must set a memory limit',
  up: [
    { rename: 'host-containers.admin', to: 'host-containers.shell' },
    // admin's source was a shipped default, not the operator's: shell has none unless the migration says.
    { set: 'host-containers.shell.source', value: 'localhost/berth/admin:latest', 'if-unset': true },
    { set: 'workloads.require-memory-limit', value: true, 'if-unset': true },
  ],
  down: [
    { remove: 'workloads.require-memory-limit' },
    { rename: 'host-containers.shell', to: 'host-containers.admin' },
  ],
};

type T = { after(fn: () => unknown): void };

async function fixture(t: T, migration: object) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-update-migr-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'v1'));
  await mkdir(path.join(dir, 'v2'));
  const v1 = await makeBuild(path.join(dir, 'v1'), '1.0.0', 2 * MiB);
  const v2 = await makeBuild(path.join(dir, 'v2'), '2.0.0', 2 * MiB);
  const disk = path.join(dir, 'disk.img');
  await makeDisk(v1, disk, { slotMib: 4 });
  const gpt = await readGpt(disk);
  const b = gpt.partitions.find((p) => p.name === 'BERTH-ROOT-B')!;
  const espOffset = gpt.partitions.find((p) => p.name === 'BERTH-ESP')!.offset;
  const migrationFile = path.join(dir, migration === RENAME ? 'rename.json' : 'bad.json');
  await writeFile(migrationFile, JSON.stringify(migration));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  await publish(repo, { version: '2.0.0', rootImage: v2.rootGz, kernel: v2.kernel, initramfs: v2.initramfs, rootHash: v2.rootHash, hashOffset: v2.hashOffset }, ['--migration', migrationFile]);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  return { dir, disk, b, espOffset, repo, server, stateDir: path.join(dir, 'state'), osRelease: path.join(dir, 'os-release'), reboots: path.join(dir, 'reboots') };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;
let boots = 0;

/** berthd's start, as far as settings and updates go, running `version`; berthctl pointed at it. */
async function boot(t: T, f: Fixture, version: string) {
  await writeFile(f.osRelease, `VERSION_ID=${version}\nVARIANT_ID=metal\n`);
  const logger = pino({ level: 'silent' });
  const migrated = await migrateSettingsForVersion({ stateDir: f.stateDir, osRelease: f.osRelease, fallbackVersion: '0.0.1', settingsDefaults: defaultSettingsFile(), logger });
  const settings = await SettingsStore.open({ stateDir: f.stateDir, defaultsFile: defaultSettingsFile() });
  const updates = await startUpdates({
    stateDir: f.stateDir, settings, trustedRoot: path.join(f.repo, 'metadata/1.root.json'), osRelease: f.osRelease, fallbackVersion: '0.0.1', logger, bootDisk: f.disk,
    settingsDefaults: defaultSettingsFile(),
  });
  const socket = path.join(f.dir, `api-${++boots}.sock`);
  const api = await startApiServer({ socketPath: socket, supervisor: new FakeSupervisor(), settings: new FakeSettings(), images: new FakeImages(), host: fakeHost(), updates });
  t.after(() => api.close());
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli(['--socket', socket, ...args]);
  const json = async (...args: string[]): Promise<Record<string, unknown>> => {
    const r = await cli('-o', 'json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const flat = (key: string): unknown => settings.getFlat(key)[key];
  return { migrated, settings, flat, cli, json, shutdown: () => api.close() };
}

async function firstBoot(t: T, f: Fixture) {
  const h = await boot(t, f, '1.0.0');
  assert.equal(h.migrated.action, 'first-start');
  await h.settings.set({
    'updates.metadata-base-url': `${f.server.url}/metadata`, 'updates.targets-base-url': `${f.server.url}/targets`, 'updates.seed': '0',
    'updates.reboot-command': `echo reboot >> ${f.reboots}`,
    'host-containers.admin.enabled': 'true',
  });
  const checked = await h.cli('update', 'check');
  assert.equal(checked.code, 0, checked.stderr);
  assert.match(checked.stdout, /^available: +2\.0\.0$/m);
  return h;
}

const lines = async (file: string): Promise<number> => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

test('a migration across apply --reboot and the next boot; update rollback runs it backward at the old version\'s boot', async (t) => {
  const f = await fixture(t, RENAME);
  const v1 = await firstBoot(t, f);
  const settingsBefore = await readFile(settingsFilePath(f.stateDir), 'utf8');

  // apply --reboot: the dry run passes, the slot is written, then updates.reboot-command runs.
  const applied = await v1.cli('update', 'apply', '--reboot');
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /^state: +ready$/m);
  assert.match(applied.stdout, /^rebooting into 2\.0\.0$/m);
  // berthd answers first, then runs the command (it usually stops berthd).
  await waitFor(async () => (await lines(f.reboots)) === 1, 10_000, 'updates.reboot-command to run');
  assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+3.conf']);
  assert.equal(await readFile(settingsFilePath(f.stateDir), 'utf8'), settingsBefore, 'the dry run ran on a copy: settings untouched before the reboot');
  await v1.shutdown();

  // The first boot of 2.0.0 migrates forward, keeping the previous store.
  const v2 = await boot(t, f, '2.0.0');
  assert.deepEqual(v2.migrated, {
    action: 'up', from: '1.0.0', to: '2.0.0', migrations: ['metal-x86_64-2.0.0-migration-0-rename.json'],
    backup: path.join(f.stateDir, 'settings', 'settings.1.0.0.json'),
  });
  assert.equal(v2.flat('host-containers.shell.enabled'), true, 'renamed');
  assert.equal(v2.flat('host-containers.admin.enabled'), false, 'the shipped default again: the operator\'s value moved');
  assert.equal(v2.flat('workloads.require-memory-limit'), true, 'set');
  assert.equal(await readFile(path.join(f.stateDir, 'settings', 'settings.1.0.0.json'), 'utf8'), settingsBefore);
  const running = await v2.json('update', 'status');
  assert.equal(running['runningVersion'], '2.0.0');
  assert.equal(running['state'], 'idle', 'the update taken is not offered again');

  // Roll back on demand: 1.0.0's entry (good) is the default again, 2.0.0's is marked out of tries.
  const rolled = await v2.json('update', 'rollback');
  assert.deepEqual({ ...(rolled['lastRollback'] as object), at: 'x' }, {
    fromVersion: '2.0.0', toVersion: '1.0.0', at: 'x', reason: 'rolled back on demand (update rollback) while running 2.0.0',
  });
  assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+0.conf']);
  const rebooted = await v2.cli('update', 'reboot');
  assert.equal(rebooted.code, 0, rebooted.stderr);
  assert.equal(rebooted.stdout, 'rebooting (no update is ready)\n');
  await waitFor(async () => (await lines(f.reboots)) === 2, 10_000, 'updates.reboot-command to run');
  await v2.shutdown();

  // 1.0.0 again: 2.0.0's migration runs backward from the copy kept on the state partition.
  const back = await boot(t, f, '1.0.0');
  assert.equal(back.migrated.action, 'down');
  assert.equal(back.flat('host-containers.admin.enabled'), true);
  assert.equal(back.flat('host-containers.shell.enabled'), undefined);
  assert.equal(back.flat('workloads.require-memory-limit'), false, 'the shipped default again');
  const status = await back.cli('update', 'status');
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^last rollback: +2\.0\.0 → 1\.0\.0 at \S+: rolled back on demand \(update rollback\) while running 2\.0\.0 \(settings migrations undone: metal-x86_64-2\.0\.0-migration-0-rename\.json\)$/m);
  assert.deepEqual(((await back.json('update', 'status'))['lastRollback'] as { migrationsUndone: string[] }).migrationsUndone, ['metal-x86_64-2.0.0-migration-0-rename.json']);

  // Nothing good before 1.0.0: refused, nothing changed.
  const again = await back.cli('update', 'rollback');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^berthctl: rollback refused: no previous good version to roll back to \(next boot: berth-1\.0\.0\.conf; other entries: berth-2\.0\.0\+0\.conf\)$/m);
  assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+0.conf']);
});

test('a migration that fails its dry run: apply fails naming the migration and the key; nothing changed', async (t) => {
  const bad = {
    'berth-migration': 1,
    up: [{ rename: 'host-containers.admin', to: 'host-containers.shell' }, { set: 'host-containers.shell.superpowered', value: 'yes' }],
    down: [{ rename: 'host-containers.shell', to: 'host-containers.admin' }],
  };
  const f = await fixture(t, bad);
  const v1 = await firstBoot(t, f);
  const settingsBefore = await readFile(settingsFilePath(f.stateDir), 'utf8');
  const slotB = await hashRange(f.disk, f.b.offset, f.b.size);

  const usage = await v1.cli('update', 'apply', '--reboot', '--no-wait');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--reboot waits for the apply to end; it cannot be combined with --no-wait/);

  const r = await v1.cli('update', 'apply', '--reboot');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^berthctl: update apply failed: settings migrations of 2\.0\.0 failed their dry run, nothing was changed: migration metal-x86_64-2\.0\.0-migration-0-bad\.json: host-containers\.shell\.superpowered: /m);
  assert.equal(await lines(f.reboots), 0, 'no reboot');
  assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf'], 'the next boot is what it was');
  assert.equal(await hashRange(f.disk, f.b.offset, f.b.size), slotB, 'the inactive slot was not written');
  assert.equal(await readFile(settingsFilePath(f.stateDir), 'utf8'), settingsBefore, 'settings untouched');
  await assert.rejects(access(path.join(f.stateDir, 'updates', 'migrations', '2.0.0')), 'nothing kept for the next boot');
  const s = await v1.json('update', 'status');
  assert.notEqual(s['state'], 'ready');
  assert.match((s['lastError'] as { message: string }).message, /migration metal-x86_64-2\.0\.0-migration-0-bad\.json: host-containers\.shell\.superpowered/);
});

test('berth-repo add refuses a migration file that is not a berth migration, naming the file and the field', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-repo-migr-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  const file = path.join(dir, 'm.js');
  await writeFile(file, 'export function up(s) { return s }');
  await assert.rejects(
    publish(repo, { version: '2.0.0', rootImage: file, kernel: file, initramfs: file, rootHash: 'a'.repeat(64), hashOffset: 512 }, ['--migration', file]),
    /berth-repo: --migration: .*m\.js: migration m\.js: not JSON/,
  );
});
