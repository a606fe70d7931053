// The disk installer: an update's bytes onto an A/B GPT disk (the host's boot disk or a disk image file).
// Order of an install, each step safe to crash in:
//   1. entries that boot the inactive slot are removed (they would boot the new bytes with the old hash);
//   2. the image is streamed into the inactive slot (resumable), then checked with veritysetup verify;
//   3. kernel, initramfs and a hidden entry go to the ESP (beside the verify: systemd-boot ignores it);
//   4. one rename makes `berth-<version>+3.conf` visible, and with the highest generation it is the default.
// Until step 4 the next boot is what it was; the active slot is never opened for writing.
import { access, mkdir } from 'node:fs/promises';
import { checkRootHash, checkVersion, nextGeneration, slotCmdline } from './entries.js';
import { Esp, type StagedEntry } from './esp.js';
import { partitionDevice } from './partition-device.js';
import { activeSlot, defaultActiveFrom, readLayout, slotInfo, type ActiveFrom } from './layout.js';
import { clearState, imageIdentity, loadState, sameIdentity, saveState, writeSlot, type WriteIdentity } from './slot-writer.js';
import type { BootEntryInfo, InstallPlan, InstallProgress, SlotInfo, UpdateInstaller } from './types.js';
import { detachStale, VerityMismatchError, verifyRegion } from './verity.js';

export interface DiskInstallerOptions {
  /** The GPT disk: a block device (the host's boot disk) or a disk image file. */
  readonly disk: string;
  /** Where the resume record of an interrupted write is kept (berth's state partition on a host). */
  readonly stateDir: string;
  /** How the running slot is found: `cmdline` (a booted host) or `esp` (a disk file). Default by the disk's kind. */
  readonly activeFrom?: ActiveFrom;
  readonly cmdlinePath?: string;
  /** Bytes written between durable checkpoints of a slot write (default 64 MiB). */
  readonly checkpointBytes?: number;
}

export interface DiskInstaller extends UpdateInstaller {
  /** `update rollback`: the next boot runs the previous good version (the current default is marked bad). */
  rollback(): Promise<{ from: BootEntryInfo; to: BootEntryInfo }>;
  /**
   * `update cancel` of a ready update: every entry that boots the inactive slot (and any staged one) is
   * removed, so the next boot is the running slot's again. The slot's bytes stay; a later install rewrites them.
   */
  deactivate(): Promise<void>;
}

function checkPlan(plan: InstallPlan): void {
  checkVersion(plan.version);
  checkRootHash(plan.rootHash);
  if (!Number.isSafeInteger(plan.hashOffset) || plan.hashOffset <= 0 || plan.hashOffset % 512 !== 0) {
    throw new Error(`hashOffset ${plan.hashOffset} is invalid: a positive multiple of 512 bytes`);
  }
}

async function readable(what: string, file: string): Promise<void> {
  await access(file).catch(() => {
    throw new Error(`${what} ${file} cannot be read`);
  });
}

export function createDiskInstaller(o: DiskInstallerOptions): DiskInstaller {
  const cmdlinePath = o.cmdlinePath ?? '/proc/cmdline';
  const checkpointBytes = o.checkpointBytes ?? 64 << 20;
  let busy = false;

  async function current(signal?: AbortSignal) {
    const layout = await readLayout(o.disk);
    const espDevice = await partitionDevice(o.disk, layout.esp.offset);
    const esp = espDevice ? new Esp(espDevice, 0, signal) : new Esp(o.disk, layout.esp.offset, signal);
    const entries = await esp.entries();
    const from = o.activeFrom ?? (await defaultActiveFrom(o.disk));
    const info = slotInfo(layout, entries, await activeSlot(from, entries, cmdlinePath, o.disk), from);
    return { layout, esp, info };
  }

  /** One disk operation at a time in this process: two installs would write the same slot. */
  async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (busy) throw new Error(`an install or rollback on ${o.disk} is already running`);
    busy = true;
    try {
      return await fn();
    } finally {
      busy = false;
    }
  }

  async function install(plan: InstallPlan, progress: (p: InstallProgress) => void, signal: AbortSignal): Promise<void> {
    checkPlan(plan);
    await readable('root image', plan.rootImage);
    await readable('kernel', plan.kernel);
    await readable('initramfs', plan.initramfs);
    await mkdir(o.stateDir, { recursive: true });
    const { layout, esp, info } = await current(signal);
    const target = info.inactive;
    const part = layout.roots[target];
    const onActive = info.entries.find((e) => e.slot === info.active && e.version === plan.version);
    if (onActive) throw new Error(`version ${plan.version} is already installed in the active slot ${info.active} (${onActive.file}); nothing to install`);
    const base = plan.cmdline ?? (info.slots.find((s) => s.name === info.active)?.entry ?? info.defaultEntry)?.options;
    if (!base) throw new Error('plan.cmdline is required: no boot entry on the ESP to take the kernel command line from');
    if (plan.hashOffset >= part.size) throw new Error(`hashOffset ${plan.hashOffset} is beyond slot ${target} (${part.size} bytes)`);

    progress({ phase: 'prepare', done: 0, total: 1 });
    const identity: WriteIdentity = {
      disk: o.disk, slot: target, offset: part.offset, size: part.size,
      version: plan.version, rootHash: plan.rootHash, hashOffset: plan.hashOffset, image: await imageIdentity(plan.rootImage),
    };
    const prev = await loadState(o.stateDir);
    if (prev?.loop) await detachStale(prev.loop, prev.identity.disk, prev.identity.offset);
    const resume = prev && sameIdentity(prev.identity, identity) ? prev : undefined;
    if (!resume) await clearState(o.stateDir);
    // Step 1: nothing may boot the slot once its bytes start to change.
    await esp.removeStaged();
    for (const e of info.entries) if (e.slot === target) await esp.removeEntry(e);
    progress({ phase: 'prepare', done: 1, total: 1 });

    // Step 2: write and verify; a resumed write that does not verify is rewritten from scratch once.
    // Step 3 (kernel, initramfs and the hidden entry onto the ESP) runs beside the verify: it does not depend
    // on the slot's bytes and nothing boots it before the commit, which waits for both. Its progress is
    // reported after the verify's, in the order of the steps.
    // The staging is not cut short by a cancel (killing mtools half way through a write could leave the FAT
    // inconsistent): a cancel waits for it and then removes what it wrote.
    const espQuiet = esp.withoutSignal();
    let staging: Promise<StagedEntry> | undefined;
    const stageBeside = () => {
      staging ??= espQuiet.entries().then((entries) => espQuiet.stage(
        { version: plan.version, generation: nextGeneration(entries), options: slotCmdline(base, target, plan.rootHash, plan.hashOffset) },
        plan.kernel, plan.initramfs, () => undefined,
      ));
      staging.catch(() => undefined); // awaited below, or cleaned up if the verify fails
    };
    let written = resume?.written ?? 0;
    let complete = resume?.complete ?? false;
    try {
      for (let attempt = 0; ; attempt++) {
        signal.throwIfAborted();
        if (!complete) {
          await saveState(o.stateDir, { identity, written, complete: false });
          await writeSlot({
            identity, stateDir: o.stateDir, resumeFrom: written, checkpointBytes, signal,
            progress: (done, total) => progress({ phase: 'write', done, total }),
          });
        }
        progress({ phase: 'verify', done: 0, total: 1 });
        try {
          await verifyRegion(
            { disk: o.disk, offset: part.offset, size: part.size, hashOffset: plan.hashOffset, rootHash: plan.rootHash },
            async (loop) => {
              await saveState(o.stateDir, { identity, written: Number.MAX_SAFE_INTEGER, complete: true, loop });
              if (loop) stageBeside();
            },
            signal,
          );
          break;
        } catch (e) {
          await clearState(o.stateDir);
          if (!(e instanceof VerityMismatchError) || written === 0 || attempt > 0) throw e;
          written = 0;
          complete = false;
        }
      }
    } catch (e) {
      // Nothing of this version may stay on the ESP: the staged entry is hidden, but its kernel is not needed.
      if (staging) {
        await staging.catch(() => undefined);
        await espQuiet.removeStaged().catch(() => undefined);
        await espQuiet.removeKernelDir(plan.version).catch(() => undefined);
      }
      throw e;
    }
    progress({ phase: 'verify', done: 1, total: 1 });

    // Steps 3 (begun above) and 4.
    stageBeside();
    const staged = await (staging as Promise<StagedEntry>);
    for (let done = 1; done <= 3; done++) progress({ phase: 'esp', done, total: 3 });
    signal.throwIfAborted();
    progress({ phase: 'commit', done: 0, total: 1 });
    await esp.commit(staged);
    await clearState(o.stateDir);
    progress({ phase: 'commit', done: 1, total: 1 });
  }

  return {
    install: (plan, progress, signal) => exclusive(() => install(plan, progress, signal)),
    slots: async (): Promise<SlotInfo> => (await current()).info,
    rollback: () => exclusive(async () => (await current()).esp.rollback()),
    deactivate: () => exclusive(async () => {
      const { esp, info } = await current();
      await esp.removeStaged();
      for (const e of info.entries) if (e.slot === info.inactive) await esp.removeEntry(e);
    }),
  };
}
