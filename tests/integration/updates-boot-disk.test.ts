// Host updates end to end without a VM: berthd's own updater wiring (src/daemon/updates.ts) with
// `--boot-disk` naming a GPT disk image file built by image/disk.sh, a repository built by berth-repo served
// on 127.0.0.1, and the real disk installer behind the updater (src/updates/boot-disk.ts). As root: the
// slot check uses a read-only loop device.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { defaultSettingsFile } from '../../src/daemon/berthd.js';
import { startUpdates } from '../../src/daemon/updates.js';
import { SettingsStore } from '../../src/settings/index.js';
import { readGpt } from '../../src/updates/disk/index.js';
import { bootDiskInstaller, runningBootDisk } from '../../src/updates/boot-disk.js';
import { hashRange, makeBuild, makeDisk, mdir, MiB, verifyRegion } from '../support/disk-image.js';
import { mustRepo, publish, serveStatic } from '../support/update-repo.js';
import { waitFor } from '../support/wait.js';

async function fixture(t: { after(fn: () => unknown): void }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-update-disk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'v1'));
  await mkdir(path.join(dir, 'v2'));
  const v1 = await makeBuild(path.join(dir, 'v1'), '1.0.0', 4 * MiB);
  const v2 = await makeBuild(path.join(dir, 'v2'), '2.0.0', 4 * MiB);
  const disk = path.join(dir, 'disk.img');
  await makeDisk(v1, disk, { slotMib: 8 });
  const gpt = await readGpt(disk);
  const part = (name: string) => gpt.partitions.find((p) => p.name === name)!;
  const [a, b, espOffset] = [part('BERTH-ROOT-A'), part('BERTH-ROOT-B'), part('BERTH-ESP').offset];
  const slotABefore = await hashRange(disk, a.offset, a.size);

  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  await publish(repo, { version: '2.0.0', rootImage: v2.rootGz, kernel: v2.kernel, initramfs: v2.initramfs, rootHash: v2.rootHash, hashOffset: v2.hashOffset });
  const server = await serveStatic(repo);
  t.after(() => server.close());

  const stateDir = path.join(dir, 'state');
  const osRelease = path.join(dir, 'os-release');
  await writeFile(osRelease, 'VERSION_ID=1.0.0\nVARIANT_ID=metal\n');
  const settings = await SettingsStore.open({ stateDir, defaultsFile: defaultSettingsFile() });
  await settings.set({ 'updates.metadata-base-url': `${server.url}/metadata`, 'updates.targets-base-url': `${server.url}/targets`, 'updates.seed': '0' });
  const wiring = { stateDir, settings, trustedRoot: path.join(repo, 'metadata/1.root.json'), osRelease, fallbackVersion: '0.0.1', logger: pino({ level: 'silent' }) };
  return { dir, disk, a, b, espOffset, v2, slotABefore, stateDir, wiring };
}

async function applyToReady(updates: Awaited<ReturnType<typeof startUpdates>>): Promise<void> {
  assert.equal((await updates.check()).state, 'available');
  await updates.apply();
  await waitFor(async () => ['ready', 'staged'].includes((await updates.status()).state) && !(await updates.status()).operation, 60_000, 'the apply to end');
  const done = await updates.status();
  assert.equal(done.state, 'ready', JSON.stringify(done.lastError));
  assert.equal(done.stagedVersion, '2.0.0');
}

test('berthd --boot-disk FILE: update check → apply writes slot B, which verifies; berth-2.0.0+3 boots next; slot A untouched', async (t) => {
  const { disk, a, b, espOffset, v2, slotABefore, wiring } = await fixture(t);
  await applyToReady(await startUpdates({ ...wiring, bootDisk: disk }));
  assert.ok(await verifyRegion(disk, b.offset, b.size, v2.hashOffset, v2.rootHash), 'slot B verifies against the root hash the repository signed');
  assert.deepEqual(await mdir(disk, espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+3.conf']);
  assert.equal(await hashRange(disk, a.offset, a.size), slotABefore, 'the running slot is untouched byte for byte');
});

test('a host running slot A (kernel command line): apply, then cancel from ready takes the new entry away and slot A boots next again', async (t) => {
  const { dir, disk, a, espOffset, slotABefore, stateDir, wiring } = await fixture(t);
  const cmdline = path.join(dir, 'cmdline');
  await writeFile(cmdline, 'root=/dev/mapper/vroot berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A ro\n');
  const updates = await startUpdates({ ...wiring, installer: bootDiskInstaller({ disk, stateDir: path.join(stateDir, 'updates/disk'), cmdlinePath: cmdline }) });
  await applyToReady(updates);
  assert.deepEqual(await mdir(disk, espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+3.conf']);

  // cancel from ready: the installer takes the new entry away, so the next boot is slot A's again.
  assert.equal((await updates.cancel()).state, 'staged');
  assert.deepEqual(await mdir(disk, espOffset, '::/loader/entries'), ['berth-1.0.0.conf']);
  assert.equal(await hashRange(disk, a.offset, a.size), slotABefore);
});

test('the running boot disk comes from berth.verity= on the kernel command line; none on a development machine', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bootdisk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cmdline = path.join(dir, 'cmdline');
  await writeFile(cmdline, 'console=ttyS0 root=/dev/mapper/vroot ro quiet\n');
  assert.equal(await runningBootDisk(cmdline), undefined, 'no berth.verity=: no boot disk');
  await writeFile(cmdline, 'root=/dev/mapper/vroot berth.verity=/dev/disk/by-partlabel/NO-SUCH-PART ro\n');
  assert.equal(await runningBootDisk(cmdline), undefined, 'a partition that does not exist: no boot disk');
  // A partition resolves to its whole disk through sysfs (a stand-in tree: /dev/by-partlabel/… → vdz2, whose
  // sysfs entry sits under the disk vdz's directory).
  const { symlink } = await import('node:fs/promises');
  await mkdir(path.join(dir, 'dev/by-partlabel'), { recursive: true });
  await writeFile(path.join(dir, 'dev/vdz2'), '');
  await symlink('../vdz2', path.join(dir, 'dev/by-partlabel/BERTH-ROOT-B'));
  await mkdir(path.join(dir, 'sys/devices/block/vdz/vdz2'), { recursive: true });
  await mkdir(path.join(dir, 'sys/class/block'), { recursive: true });
  await symlink('../../devices/block/vdz/vdz2', path.join(dir, 'sys/class/block/vdz2'));
  await writeFile(cmdline, `root=/dev/mapper/vroot berth.verity=${dir}/dev/by-partlabel/BERTH-ROOT-B ro\n`);
  assert.equal(await runningBootDisk(cmdline, path.join(dir, 'sys/class/block')), '/dev/vdz');
  // A whole disk given as the root device (no parent disk): not an A/B disk.
  await mkdir(path.join(dir, 'sys/devices/block/vdy'), { recursive: true });
  await writeFile(path.join(dir, 'dev/vdy'), '');
  await symlink('../../devices/block/vdy', path.join(dir, 'sys/class/block/vdy'));
  await writeFile(cmdline, `berth.verity=${dir}/dev/vdy\n`);
  assert.equal(await runningBootDisk(cmdline, path.join(dir, 'sys/class/block')), undefined);
});
