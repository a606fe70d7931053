// Issue 17: on a host the ESP is both mounted (vfat on /boot/efi, where systemd-bless-boot renames a blessed
// entry) and written by the updater with mtools. The kernel keeps one page cache per block device, so the
// updater must go through the ESP partition's own node: through the whole disk at an offset, mtools read a
// directory cluster cached before the rename and wrote it back, and the blessed entry got its boot counter
// back (seen in `npm run vm-update-test`). Here on a loop device with partitions, as root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createDiskInstaller, readGpt } from '../../src/updates/disk/index.js';
import { partitionDevice } from '../../src/updates/disk/partition-device.js';
import { makeBuild, makeDisk, MiB } from '../support/disk-image.js';

const execFileP = promisify(execFile);
const skip = process.getuid?.() !== 0 ? 'needs root (loop devices)' : false;
const MTOOLS = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

describe('the ESP through its partition node', { skip }, () => {
  let root = '';
  let loop = '';
  let held: FileHandle | undefined;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'berth-esp-cache-'));
  });
  after(async () => {
    await held?.close();
    if (loop) await execFileP('losetup', ['--detach', loop]).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  it('finds the partition device by its start, and nothing for a plain file', async () => {
    await mkdir(path.join(root, 'v1'), { recursive: true });
    const v1 = await makeBuild(path.join(root, 'v1'), '1.0.0', 4 * MiB);
    const disk = path.join(root, 'disk.img');
    await makeDisk(v1, disk, { slotMib: 16 });
    const esp = (await readGpt(disk)).partitions.find((p) => p.name === 'BERTH-ESP')!;
    assert.equal(await partitionDevice(disk, esp.offset), undefined, 'a disk image file keeps the offset');
    loop = (await execFileP('losetup', ['--find', '--show', '--partscan', disk])).stdout.trim();
    // A kernel without GPT support (CONFIG_EFI_PARTITION, this dev machine's) finds no partitions by itself;
    // partx adds them from user space. One that scanned them already makes partx fail, harmlessly.
    await execFileP('partx', ['--add', loop]).catch(() => undefined);
    assert.equal(await partitionDevice(loop, esp.offset), `${loop}p1`);
    assert.equal(await partitionDevice(loop, esp.offset + 512), undefined);
  });

  it('an install keeps a rename made through the ESP partition after the updater last read it', async () => {
    assert.ok(loop, 'the loop device of the first test');
    await mkdir(path.join(root, 'v2'), { recursive: true });
    const v2 = await makeBuild(path.join(root, 'v2'), '2.0.0', 4 * MiB);
    // On a host the disk stays open (its partitions are in use), and so does its page cache.
    held = await open(loop, 'r');
    const installer = createDiskInstaller({ disk: loop, stateDir: path.join(root, 'state'), activeFrom: 'esp', checkpointBytes: MiB });
    // berthd reads the slots (status, check) before systemd-bless-boot renames: the ESP is now in a cache.
    const before = await installer.slots();
    assert.deepEqual(before.entries.map((e) => e.file), ['berth-1.0.0.conf']);
    // What a blessing does to a counted entry, through the partition's node as the vfat mount writes (this
    // machine's kernel has no vfat; the rename's direction does not matter).
    const part = `${loop}p1`;
    await execFileP('mren', ['-i', part, '::/loader/entries/berth-1.0.0.conf', '::/loader/entries/berth-1.0.0+1-2.conf'], { env: MTOOLS });
    await installer.install(
      { version: v2.version, rootImage: v2.rootGz, kernel: v2.kernel, initramfs: v2.initramfs, rootHash: v2.rootHash, hashOffset: v2.hashOffset },
      () => undefined,
      new AbortController().signal,
    );
    const { stdout } = await execFileP('mdir', ['-b', '-i', part, '::/loader/entries'], { env: MTOOLS });
    const names = stdout.split('\n').filter(Boolean).map((l) => path.posix.basename(l)).filter((n) => !n.startsWith('.')).sort();
    assert.deepEqual(names, ['berth-1.0.0+1-2.conf', 'berth-2.0.0+3.conf'], 'the rename survived and the new entry is there');
  });
});
