// Where the ESP is read and written on a block device: through its partition's own device node (/dev/vda1),
// not through the whole disk at an offset. The kernel keeps one page cache per block device: the vfat mount
// on /boot/efi (systemd-bless-boot's rename of a blessed entry) goes through the partition's, so mtools on
// `/dev/vda@@offset` could read a directory cluster cached before that rename and write it back, undoing it
// (the VM update test saw a blessed entry get its boot counter back). Through the partition's node both see
// the same cache. A disk image file (tests) has no such node and keeps the offset.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** `/dev/<partition>` of the partition of block device `disk` that starts at byte `offset`; undefined otherwise. */
export async function partitionDevice(disk: string, offset: number, sysClassBlock = '/sys/class/block', devDir = '/dev'): Promise<string | undefined> {
  const st = await stat(disk).catch(() => undefined);
  if (!st?.isBlockDevice()) return undefined;
  const name = path.basename(await realpath(disk));
  const dir = path.join(sysClassBlock, name);
  for (const child of await readdir(dir).catch(() => [] as string[])) {
    const start = await readFile(path.join(dir, child, 'start'), 'utf8').catch(() => undefined);
    // sysfs counts partition starts in 512-byte sectors whatever the disk's logical block size.
    if (start !== undefined && Number(start.trim()) * 512 === offset) return path.join(devDir, child);
  }
  return undefined;
}
