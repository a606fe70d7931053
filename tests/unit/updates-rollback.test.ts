// `update rollback` on demand, the updater's side (src/updates/rollback.ts) with a fake repository and
// installer: one operation at a time, refused while an update is ready or without a previous good version,
// recorded as the last rollback; and an update taken by a reboot settles to idle at the next start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { UpdatesSettings } from '../../src/settings/families/updates.js';
import { settleTakenUpdate } from '../../src/updates/after-boot.js';
import { UpdateError } from '../../src/updates/errors.js';
import { rollbackOnDemand } from '../../src/updates/rollback.js';
import { loadLastRollback } from '../../src/updates/rollback-record.js';
import { Updater } from '../../src/updates/updater.js';
import { FakeInstaller } from '../support/update-host.js';

class RollbackInstaller extends FakeInstaller {
  rollbackError: string | undefined;
  rollbacks = 0;
  rollback(): Promise<{ from: { version: string }; to: { version: string } }> {
    this.rollbacks++;
    return this.rollbackError ? Promise.reject(new Error(this.rollbackError)) : Promise.resolve({ from: { version: '1.0.0' }, to: { version: '0.9.0' } });
  }
}

async function host(t: { after: (fn: () => Promise<void>) => void }, installer: FakeInstaller, version = '1.0.0') {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-rollback-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const settings: UpdatesSettings = {
    metadataBaseUrl: 'https://u.example/m', targetsBaseUrl: 'https://u.example/t', versionLock: 'latest', ignoreWaves: true, seed: 5, rebootCommand: 'true', rebootStrategy: 'immediate', healthChecks: [], healthTimeout: 300_000,
  };
  const open = (): Promise<Updater> => Updater.open({
    host: { variant: 'metal', arch: 'x86_64', version },
    settings: () => settings, installer, dir: path.join(dir, 'updates'), trustedRootFile: path.join(dir, 'root.json'),
    repository: () => ({
      manifest: () => Promise.resolve({ schema: 1, updates: [{
        variant: 'metal', arch: 'x86_64', version: '2.0.0', images: { root: 'r', kernel: 'k', initramfs: 'i' }, rootHash: 'a'.repeat(64), hashOffset: 512, waves: [], migrations: [],
      }] }),
      download: async (_u, into) => {
        await mkdir(into, { recursive: true });
        const f = path.join(into, 'f');
        await writeFile(f, 'x');
        return { rootImage: f, kernel: f, initramfs: f, migrations: [] };
      },
    }),
  });
  return { dir, updater: await open(), open };
}

async function refused(p: Promise<unknown>, kind: string, re: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof UpdateError, `expected an UpdateError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, re);
}

test('rollback on demand: recorded as the last rollback; refused without a previous good version, while ready, while busy', async (t) => {
  const installer = new RollbackInstaller();
  const { dir, updater } = await host(t, installer);
  const at = new Date('2026-05-06T07:08:09Z');
  const r = await rollbackOnDemand({ updater, installer, stateDir: dir, now: () => at });
  assert.deepEqual(r, { fromVersion: '1.0.0', toVersion: '0.9.0', at: at.toISOString(), reason: 'rolled back on demand (update rollback) while running 1.0.0' });
  assert.deepEqual(await loadLastRollback(dir), r);

  installer.rollbackError = 'no previous good version to roll back to (next boot: berth-1.0.0.conf; other entries: none)';
  await refused(rollbackOnDemand({ updater, installer, stateDir: dir }), 'state', /^rollback refused: no previous good version to roll back to/);
  assert.equal(updater.status().lastError?.operation, 'rollback');
  assert.deepEqual(await loadLastRollback(dir), r, 'a refused rollback records nothing');
  installer.rollbackError = undefined;

  // One operation at a time: a rollback while an apply runs is refused, naming it.
  await updater.check();
  installer.hold();
  const applying = await updater.apply();
  await installer.started;
  await refused(rollbackOnDemand({ updater, installer, stateDir: dir }), 'busy', /^update apply of 2\.0\.0 is running/);
  installer.release();
  await applying.finished;
  assert.equal(updater.status().state, 'ready');
  const before = installer.rollbacks;
  await refused(rollbackOnDemand({ updater, installer, stateDir: dir }), 'state', /^2\.0\.0 is ready to boot next; run update cancel to keep 1\.0\.0/);
  assert.equal(installer.rollbacks, before, 'the installer was not asked');
});

test('an installer that cannot roll back says so', async (t) => {
  const installer = new FakeInstaller();
  const { dir, updater } = await host(t, installer);
  await refused(rollbackOnDemand({ updater, installer, stateDir: dir }), 'state', /cannot roll back \(no A\/B boot disk\)/);
});

test('an update ready for the version that now runs was taken by the reboot: idle at the next start; any other is kept', async (t) => {
  const installer = new FakeInstaller();
  const { dir, updater } = await host(t, installer);
  await updater.check();
  await (await updater.apply()).finished;
  assert.equal(updater.status().state, 'ready');
  const updates = path.join(dir, 'updates');
  assert.equal(await settleTakenUpdate(updates, '1.0.0'), false, 'still on 1.0.0 (berthd restarted, no reboot yet): still ready');
  assert.equal((await Updater.open({ host: { variant: 'metal', arch: 'x86_64', version: '1.0.0' }, settings: () => { throw new Error('unused'); }, installer, dir: updates, trustedRootFile: 'x' })).status().state, 'ready');
  assert.equal(await settleTakenUpdate(updates, '2.0.0'), true);
  const after = await Updater.open({ host: { variant: 'metal', arch: 'x86_64', version: '2.0.0' }, settings: () => { throw new Error('unused'); }, installer, dir: updates, trustedRootFile: 'x' });
  assert.equal(after.status().state, 'idle');
  assert.equal(after.status().mostRecentCommand?.cmdType, 'activate', 'the record of the last command stays');
});
