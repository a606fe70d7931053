// The boundary between the updater (what to install, verified) and the disk (where it goes). The updater
// hands an installer a plan whose files tuf-js has already verified against the signed metadata; the
// installer (src/updates/disk/, separate work) writes them into the inactive slot, checks the slot with
// `veritysetup verify` against `rootHash`, writes the kernel, initramfs and a boot entry with boot counting
// (`+3`), and only when all of that succeeded makes that entry the next boot. Until then the running slot
// and the default boot entry must stay as they were, whatever happens (abort, crash, a failed write).

export interface InstallPlan {
  readonly version: string;
  readonly variant: string;
  readonly arch: string;
  /** Local files, verified (length + sha256) against the signed targets. */
  readonly files: {
    /** The compressed root image: filesystem followed by its dm-verity hash tree. */
    readonly rootImage: string;
    readonly kernel: string;
    readonly initramfs: string;
  };
  /** dm-verity root hash (hex) from the signed manifest. */
  readonly rootHash: string;
  /** Byte offset of the hash tree inside the (uncompressed) root image, from the signed manifest. */
  readonly hashOffset: number;
}

export interface InstallProgress {
  /** Short name of the current step: `write`, `verify`, `boot-entry`, … */
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

export type SlotName = 'A' | 'B';

export interface SlotInfo {
  readonly running: SlotName;
  readonly inactive: SlotName;
  /** Versions per slot, from the boot entries; undefined for an empty or unknown slot. */
  readonly versions: Readonly<Partial<Record<SlotName, string>>>;
  /** The slot the next boot starts (the default entry). */
  readonly nextBoot: SlotName;
}

export interface UpdateInstaller {
  /** Writes the plan into the inactive slot and a `+3` boot entry; makes it the next boot only when all succeeded. */
  install(plan: InstallPlan, progress: (p: InstallProgress) => void, signal: AbortSignal): Promise<void>;
  /** Makes the running slot the next boot again (cancelling a ready update); the inactive slot's data may stay. */
  deactivate(): Promise<void>;
  /** Which slot runs and which is inactive, and the version each holds (from the boot entries). */
  slots(): Promise<SlotInfo>;
  /** `update rollback`: the previous good version boots next; throws when there is none. Absent: cannot. */
  rollback?(): Promise<{ from: { version: string }; to: { version: string } }>;
}

/** berthd's installer on a host that has no A/B boot disk: every call refuses, saying why. */
export class NoBootDiskInstaller implements UpdateInstaller {
  private refuse(): never {
    throw new Error('no boot disk: berthd was started without --boot-disk and its root is not on a berth A/B disk (no berth.verity= on the kernel command line), so nothing was written');
  }

  install(): Promise<void> {
    return Promise.resolve().then(() => this.refuse());
  }

  deactivate(): Promise<void> {
    return Promise.resolve().then(() => this.refuse());
  }

  slots(): Promise<SlotInfo> {
    return Promise.resolve().then(() => this.refuse());
  }

  rollback(): Promise<{ from: { version: string }; to: { version: string } }> {
    return Promise.resolve().then(() => this.refuse());
  }
}
