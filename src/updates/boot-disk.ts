// The updater's installer on a real A/B disk: src/updates/disk/ behind the updater's own contract
// (./installer.ts). The two were built apart; this is the one place their shapes meet.
import { realpath, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createDiskInstaller, type DiskInstaller, type SlotInfo as DiskSlotInfo } from './disk/index.js';
import type { SlotInfo, SlotName, UpdateInstaller } from './installer.js';

export interface BootDiskInstaller extends UpdateInstaller {
  /** The disk this installer writes. */
  readonly disk: string;
  rollback: DiskInstaller['rollback'];
}

/** The updater's view of the disk's slots: versions from the entries that boot them, the next boot from the default entry. */
export function toUpdaterSlots(info: DiskSlotInfo): SlotInfo {
  const versions: Partial<Record<SlotName, string>> = {};
  for (const slot of info.slots) if (slot.entry) versions[slot.name] = slot.entry.version;
  return { running: info.active, inactive: info.inactive, versions, nextBoot: info.defaultEntry?.slot ?? info.active };
}

/**
 * `cmdlinePath`: the running slot comes from this kernel command line even on a disk image file (a test's
 * stand-in for a booted host); otherwise a block device's from /proc/cmdline and a file's from its next boot.
 */
export function bootDiskInstaller(o: { disk: string; stateDir: string; cmdlinePath?: string }): BootDiskInstaller {
  const disk = createDiskInstaller({ disk: o.disk, stateDir: o.stateDir, ...(o.cmdlinePath ? { cmdlinePath: o.cmdlinePath, activeFrom: 'cmdline' as const } : {}) });
  return {
    disk: o.disk,
    install: (plan, progress, signal) =>
      disk.install(
        { version: plan.version, rootImage: plan.files.rootImage, kernel: plan.files.kernel, initramfs: plan.files.initramfs, rootHash: plan.rootHash, hashOffset: plan.hashOffset },
        progress,
        signal,
      ),
    deactivate: () => disk.deactivate(),
    slots: async () => toUpdaterSlots(await disk.slots()),
    rollback: () => disk.rollback(),
  };
}

/**
 * The disk the running root came from: the partition that `berth.verity=` on the kernel command line names
 * (a path such as /dev/disk/by-partlabel/BERTH-ROOT-A), resolved to its whole disk through sysfs. Undefined
 * when the host did not boot from a berth A/B disk (a development machine): berthd then has no installer.
 */
export async function runningBootDisk(cmdlinePath = '/proc/cmdline', sysClassBlock = '/sys/class/block'): Promise<string | undefined> {
  const cmdline = await readFile(cmdlinePath, 'utf8').catch(() => '');
  const device = /(?:^|\s)berth\.verity=(\S+)/.exec(cmdline)?.[1];
  if (!device) return undefined;
  const part = await realpath(device).catch(() => undefined);
  if (!part) return undefined;
  // /sys/class/block/vda2 → …/block/vda/vda2: the parent directory is the whole disk.
  const sys = await realpath(path.join(sysClassBlock, path.basename(part))).catch(() => undefined);
  if (!sys) return undefined;
  const parent = path.basename(path.dirname(sys));
  return parent === 'block' ? undefined : path.join('/dev', parent);
}
