// Settings migrations, the pure parts and the start-up step on a temp state dir: the document format, the
// ops over the settings tree, the schema check naming migration and key, and berthd's start migrating up,
// down (after a rollback) and again after a crash mid-way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { settingsFilePath } from '../../src/settings/index.js';
import { defaultSettingsFile } from '../../src/daemon/berthd.js';
import { checkMigrated } from '../../src/updates/migrations/check.js';
import { migrateSettingsAtStart, settingsBackupPath } from '../../src/updates/migrations/boot.js';
import { dryRunAndKeep } from '../../src/updates/migrations/dry-run.js';
import { MigrationError, parseKeyPath, parseMigration, type Migration } from '../../src/updates/migrations/format.js';
import { keepMigrations, keptMigrations, loadSettingsVersion, saveSettingsVersion } from '../../src/updates/migrations/kept.js';
import { runMigrations } from '../../src/updates/migrations/run.js';
import { loadLastRollback } from '../../src/updates/rollback-record.js';

const RENAME = {
  'berth-migration': 1,
  description: 'admin is called shell now; memory limits required',
  up: [
    { rename: 'host-containers.admin', to: 'host-containers.shell' },
    { set: 'workloads.require-memory-limit', value: true, 'if-unset': true },
  ],
  down: [
    { remove: 'workloads.require-memory-limit' },
    { rename: 'host-containers.shell', to: 'host-containers.admin' },
  ],
};
const mig = (name: string, doc: object): Migration => parseMigration(name, JSON.stringify(doc));

test('migration keys: dotted, a segment holding a dot quoted; anything else refused naming the key', () => {
  assert.deepEqual(parseKeyPath('host-containers.admin.enabled'), ['host-containers', 'admin', 'enabled']);
  assert.deepEqual(parseKeyPath('container-registry.mirrors."docker.io"'), ['container-registry', 'mirrors', 'docker.io']);
  assert.throws(() => parseKeyPath('a..b'), /key "a\.\.b": segment "" is not letters/);
  assert.throws(() => parseKeyPath('a."b'), /unterminated quote/);
  assert.throws(() => parseKeyPath('a/b'), /segment "a\/b"/);
});

test('migration documents: the first bad field is named, with the migration', () => {
  assert.equal(mig('m.json', RENAME).up.length, 2);
  assert.throws(() => parseMigration('m.json', '{'), /^MigrationError: migration m\.json: not JSON/);
  assert.throws(() => mig('m.json', { ...RENAME, 'berth-migration': 2 }), /migration m\.json: berth-migration: expected "berth-migration": 1/);
  assert.throws(() => mig('m.json', { ...RENAME, up: [{ rename: 'a' }] }), /migration m\.json: up\[0\]: expected \{ "rename"/);
  assert.throws(() => mig('m.json', { ...RENAME, down: [{ remove: 'a b' }] }), /migration m\.json: down\[0\]\.remove: key "a b"/);
  assert.throws(() => mig('m.json', { ...RENAME, exec: 'rm -rf /' }), /migration m\.json: document: Unrecognized key/i);
  assert.throws(() => mig('m.json', { up: [], down: [] }), /berth-migration/);
});

test('ops over the tree: rename (a whole table), set, if-unset, remove pruning empty tables; down undoes in reverse; input untouched', () => {
  const before = { 'host-containers': { admin: { enabled: true, superpowered: true } }, updates: { 'version-lock': 'latest' } };
  const frozen = structuredClone(before);
  const m = mig('rename.json', RENAME);
  const up = runMigrations(before, [m], 'up');
  assert.deepEqual(up.settings, {
    'host-containers': { shell: { enabled: true, superpowered: true } }, updates: { 'version-lock': 'latest' }, workloads: { 'require-memory-limit': true },
  });
  assert.deepEqual(before, frozen, 'the input is a copy; only the result changed');
  assert.deepEqual([...up.written], [['host-containers.shell', 'rename.json'], ['workloads.require-memory-limit', 'rename.json']]);
  assert.deepEqual(runMigrations(up.settings, [m], 'down').settings, before, 'down is the way back');
  // if-unset keeps an operator's value; renaming what is not set does nothing (a rerun after a crash is harmless).
  const set = runMigrations({ workloads: { 'require-memory-limit': false } }, [m], 'up');
  assert.deepEqual(set.settings, { workloads: { 'require-memory-limit': false } });
  // Two migrations: up in order, down in reverse order.
  const a = mig('a.json', { 'berth-migration': 1, up: [{ set: 'updates.version-lock', value: '2.0.0' }], down: [{ set: 'updates.version-lock', value: 'latest' }] });
  const b = mig('b.json', { 'berth-migration': 1, up: [{ rename: 'updates.version-lock', to: 'updates.x' }], down: [{ rename: 'updates.x', to: 'updates.version-lock' }] });
  const ab = runMigrations({}, [a, b], 'up');
  assert.deepEqual(ab.settings, { updates: { x: '2.0.0' } });
  assert.deepEqual(runMigrations(ab.settings, [a, b], 'down').settings, { updates: { 'version-lock': 'latest' } });
});

test('a rename onto a key that is set, or into a value, fails naming the migration and the key', () => {
  const m = mig('rename.json', RENAME);
  assert.throws(
    () => runMigrations({ 'host-containers': { admin: { enabled: true }, shell: { enabled: false } } }, [m], 'up'),
    (e: unknown) => e instanceof MigrationError && e.migration === 'rename.json' && e.key === 'host-containers.shell' && /already set/.test(e.message),
  );
  const into = mig('into.json', { 'berth-migration': 1, up: [{ set: 'updates.version-lock.x', value: 1 }], down: [] });
  assert.throws(() => runMigrations({ updates: { 'version-lock': 'latest' } }, [into], 'up'), /migration into\.json: updates\.version-lock\.x: updates\.version-lock holds a value/);
});

test('the schema check: a bad value names the migration that wrote it and the key; unknown keys allowed only in a dry run', () => {
  const ok = mig('ok.json', RENAME);
  const bad = mig('seed.json', { 'berth-migration': 1, up: [{ set: 'updates.seed', value: '9999' }], down: [] });
  const r = runMigrations({}, [bad, ok], 'up');
  assert.throws(() => checkMigrated(r, [bad, ok]), /^MigrationError: migration seed\.json: updates\.seed: expected a whole number from 0 to 2047/);
  const future = mig('future.json', { 'berth-migration': 1, up: [{ set: 'updates.new-thing', value: 'x' }], down: [{ remove: 'updates.new-thing' }] });
  const rf = runMigrations({}, [future], 'up');
  assert.throws(() => checkMigrated(rf, [future]), /migration future\.json: updates\.new-thing: unknown setting/);
  assert.deepEqual(checkMigrated(rf, [future], { allowUnknownWritten: true }), ['updates.new-thing']);
});

async function stateWith(t: { after(fn: () => unknown): void }, settings: object): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-migr-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.dirname(settingsFilePath(dir)), { recursive: true });
  await writeFile(settingsFilePath(dir), JSON.stringify({ version: 1, generation: 3, settings }));
  return dir;
}

const readSettings = async (dir: string): Promise<unknown> => (JSON.parse(await readFile(settingsFilePath(dir), 'utf8')) as { settings: unknown }).settings;

test('dry run: a failing migration throws naming it and the key and keeps nothing; a good one is kept for the next boot', async (t) => {
  const original = { 'host-containers': { admin: { enabled: true } } };
  const dir = await stateWith(t, original);
  const files = path.join(dir, 'dl');
  await mkdir(files);
  await writeFile(path.join(files, 'bad.json'), JSON.stringify({ 'berth-migration': 1, up: [{ set: 'updates.seed', value: 'x' }], down: [] }));
  await writeFile(path.join(files, 'rename.json'), JSON.stringify(RENAME));
  await assert.rejects(dryRunAndKeep({ stateDir: dir, version: '2.0.0', files: [path.join(files, 'rename.json'), path.join(files, 'bad.json')] }), (e: Error) => {
    assert.match(e.message, /^settings migrations of 2\.0\.0 failed their dry run, nothing was changed: migration bad\.json: updates\.seed: expected a whole number/);
    return true;
  });
  assert.deepEqual(await keptMigrations(dir), []);
  assert.deepEqual(await readSettings(dir), original, 'the dry run worked on a copy');
  // A down that leaves settings this version cannot load fails the dry run too (it is what a rollback runs).
  await writeFile(path.join(files, 'baddown.json'), JSON.stringify({ 'berth-migration': 1, up: [], down: [{ set: 'selinux.mode', value: 'sometimes' }] }));
  await assert.rejects(dryRunAndKeep({ stateDir: dir, version: '2.0.0', files: [path.join(files, 'baddown.json')] }), /migration baddown\.json: selinux\.mode: /);

  // With the shipped defaults, what the settings store checks when it opens: a renamed host container has no
  // source (admin's was a default), which only the whole-state rule sees.
  await writeFile(path.join(files, 'nosource.json'), JSON.stringify({ ...RENAME, up: [RENAME.up[0]] }));
  await assert.rejects(
    dryRunAndKeep({ stateDir: dir, version: '2.0.0', files: [path.join(files, 'nosource.json')], defaultsFile: defaultSettingsFile() }),
    /migration nosource\.json: host-containers\.shell\.source: required/,
  );
  await dryRunAndKeep({ stateDir: dir, version: '2.0.0', files: [path.join(files, 'nosource.json')] });
  const r = await dryRunAndKeep({ stateDir: dir, version: '2.0.0', files: [path.join(files, 'rename.json')] });
  assert.deepEqual(r, { migrations: ['rename.json'], unchecked: [] });
  const kept = await keptMigrations(dir);
  assert.deepEqual(kept.map((k) => [k.version, k.migrations.map((m) => m.name)]), [['2.0.0', ['rename.json']]]);
  assert.deepEqual(await readSettings(dir), original);

  // A version skipped by the update (kept from an earlier try): its migrations now travel with 3.0.0's.
  await keepMigrations(dir, '2.5.0', []);
  await dryRunAndKeep({ stateDir: dir, version: '3.0.0', files: [path.join(files, 'rename.json')], runningVersion: '2.0.0' });
  assert.deepEqual((await keptMigrations(dir)).map((k) => k.version), ['2.0.0', '3.0.0']);
});

test('dry run of a pinned downgrade: the down of every kept version it leaves, newest first; one that cannot apply fails naming it; nothing kept or changed', async (t) => {
  const now = { 'host-containers': { shell: { enabled: true } }, workloads: { 'require-memory-limit': true } };
  const dir = await stateWith(t, now);
  const src = path.join(dir, 'rename.json');
  await writeFile(src, JSON.stringify(RENAME));
  const other = path.join(dir, 'motd.json');
  await writeFile(other, JSON.stringify({ 'berth-migration': 1, up: [], down: [{ remove: 'host-containers.shell.superpowered' }] }));
  await keepMigrations(dir, '2.0.0', [src]);
  await keepMigrations(dir, '3.0.0', [other]);
  const kept = JSON.stringify(await keptMigrations(dir));
  // 3.0.0 → 1.0.0: 3.0.0's then 2.0.0's down, as 1.0.0's start will run them.
  const r = await dryRunAndKeep({ stateDir: dir, version: '1.0.0', files: [], runningVersion: '3.0.0' });
  assert.deepEqual(r.migrations, ['motd.json', 'rename.json']);
  // 3.0.0 → 2.0.0: only 3.0.0's.
  assert.deepEqual((await dryRunAndKeep({ stateDir: dir, version: '2.0.0', files: [], runningVersion: '3.0.0' })).migrations, ['motd.json']);
  // A down that cannot apply: admin was set again on the newer version, so renaming shell back to it fails.
  await writeFile(settingsFilePath(dir), JSON.stringify({ version: 1, generation: 4, settings: { ...now, 'host-containers': { shell: { enabled: true }, admin: { enabled: false } } } }));
  await assert.rejects(dryRunAndKeep({ stateDir: dir, version: '1.0.0', files: [], runningVersion: '3.0.0' }), (e: Error) => {
    assert.match(e.message, /^settings migrations of 1\.0\.0 failed their dry run, nothing was changed: migration rename\.json: .*host-containers\.admin/);
    return true;
  });
  assert.equal(JSON.stringify(await keptMigrations(dir)), kept, 'what is kept is what the older version runs: untouched');
});

test('at start: first start records the version; a newer version runs up (old store kept), an older one runs down and records the rollback', async (t) => {
  const original = { 'host-containers': { admin: { enabled: true } } };
  const dir = await stateWith(t, original);
  assert.equal((await migrateSettingsAtStart({ stateDir: dir, runningVersion: '1.0.0' })).action, 'first-start');
  assert.equal((await migrateSettingsAtStart({ stateDir: dir, runningVersion: '1.0.0' })).action, 'none');
  const src = path.join(dir, 'rename.json');
  await writeFile(src, JSON.stringify(RENAME));
  await keepMigrations(dir, '2.0.0', [src]);
  await keepMigrations(dir, '3.0.0', []);

  const up = await migrateSettingsAtStart({ stateDir: dir, runningVersion: '2.0.0' });
  assert.deepEqual(up, { action: 'up', from: '1.0.0', to: '2.0.0', migrations: ['rename.json'], backup: settingsBackupPath(dir, '1.0.0') });
  assert.deepEqual(await readSettings(dir), { 'host-containers': { shell: { enabled: true } }, workloads: { 'require-memory-limit': true } });
  assert.deepEqual((JSON.parse(await readFile(settingsBackupPath(dir, '1.0.0'), 'utf8')) as { settings: unknown }).settings, original, 'the previous store is kept');
  assert.deepEqual(await loadSettingsVersion(dir), { version: '2.0.0' });
  assert.equal((await migrateSettingsAtStart({ stateDir: dir, runningVersion: '2.0.0' })).action, 'none', 'once only');

  const down = await migrateSettingsAtStart({ stateDir: dir, runningVersion: '1.0.0', now: () => new Date('2026-01-02T03:04:05Z') });
  assert.equal(down.action, 'down');
  assert.deepEqual(down.migrations, ['rename.json']);
  assert.deepEqual(await readSettings(dir), original);
  const rb = await loadLastRollback(dir);
  assert.equal(rb?.fromVersion, '2.0.0');
  assert.equal(rb?.toVersion, '1.0.0');
  assert.deepEqual(rb?.migrationsUndone, ['rename.json']);
  assert.match(rb?.reason ?? '', /booted 1\.0\.0 again after running 2\.0\.0/);
});

test('at start: a failing migration leaves settings.json as it was; a crash mid-way repeats from the kept copy', async (t) => {
  const original = { 'host-containers': { admin: { enabled: true }, shell: { enabled: false } } };
  const dir = await stateWith(t, original);
  await saveSettingsVersion(dir, { version: '1.0.0' });
  const src = path.join(dir, 'rename.json');
  await writeFile(src, JSON.stringify(RENAME));
  await keepMigrations(dir, '2.0.0', [src]);
  await assert.rejects(migrateSettingsAtStart({ stateDir: dir, runningVersion: '2.0.0' }), /migration rename\.json: host-containers\.shell: cannot rename host-containers\.admin to it: it is already set/);
  assert.deepEqual(await readSettings(dir), original);
  // Booted back into 1.0.0 (the failed boot fell back): the record is settled, settings as they were.
  assert.equal((await migrateSettingsAtStart({ stateDir: dir, runningVersion: '1.0.0' })).action, 'restored');
  assert.deepEqual(await loadSettingsVersion(dir), { version: '1.0.0' });
  assert.deepEqual(await readSettings(dir), original);

  // A crash after settings.json was replaced but before the record moved on: the rerun starts from the copy.
  const dir2 = await stateWith(t, { 'host-containers': { admin: { enabled: true } } });
  await saveSettingsVersion(dir2, { version: '1.0.0' });
  await keepMigrations(dir2, '2.0.0', [src]);
  await migrateSettingsAtStart({ stateDir: dir2, runningVersion: '2.0.0' });
  const migrated = await readSettings(dir2);
  await saveSettingsVersion(dir2, { version: '1.0.0', migratingTo: '2.0.0' });
  assert.equal((await migrateSettingsAtStart({ stateDir: dir2, runningVersion: '2.0.0' })).action, 'up');
  assert.deepEqual(await readSettings(dir2), migrated, 'the same result, not a rename of an already renamed table');

  // No settings.json at all: a copy kept by an earlier update must not come back as the settings.
  await rm(settingsFilePath(dir2));
  await saveSettingsVersion(dir2, { version: '1.0.0' });
  assert.equal((await migrateSettingsAtStart({ stateDir: dir2, runningVersion: '2.0.0' })).action, 'up');
  await assert.rejects(readFile(settingsFilePath(dir2)), /ENOENT/);
});

test('at start: a fallback after a failed boot check says which check failed, from the record on the state partition', async (t) => {
  const dir = await stateWith(t, { 'host-containers': { admin: { enabled: true } } });
  await saveSettingsVersion(dir, { version: '2.0.0' });
  await mkdir(path.join(dir, 'boot-check'), { recursive: true });
  await writeFile(path.join(dir, 'boot-check', '2.0.0.json'), JSON.stringify({
    version: '2.0.0', passed: false, startedAt: '2026-01-02T03:00:00Z', endedAt: '2026-01-02T03:05:00Z', timeoutMs: 300_000,
    failed: [{ check: 'control', detail: 'failed, exit 1' }, { check: 'health-checks', detail: 'web: unhealthy' }], checks: [],
  }));
  const down = await migrateSettingsAtStart({ stateDir: dir, runningVersion: '1.0.0' });
  assert.equal(down.action, 'down');
  const rb = await loadLastRollback(dir);
  assert.equal(rb?.fromVersion, '2.0.0');
  assert.equal(rb?.reason, '2.0.0 fell back to 1.0.0: its boot check failed at 2026-01-02T03:05:00Z: control: failed, exit 1 (and health-checks)');
});
