// The disk side of an update, as the updater sees it. These types are local to src/updates/disk/ until the
// updater's own (src/updates/installer.ts) and these are unified; the shapes are meant to match.

/** What to install: the TUF-verified targets, already downloaded to local files. */
export interface InstallPlan {
  /** The OS version, e.g. `1.4.0`. Names the boot entry (`berth-<version>+3.conf`) and the kernel's ESP dir. */
  readonly version: string;
  /** gzip-compressed root image: read-only root filesystem with its dm-verity hash tree at `hashOffset`. */
  readonly rootImage: string;
  readonly kernel: string;
  readonly initramfs: string;
  /** The root hash from the signed metadata (hex). The written slot must verify against it. */
  readonly rootHash: string;
  /** Byte offset of the verity hash tree inside the (uncompressed) root image. */
  readonly hashOffset: number;
  /**
   * Kernel command line of the new version (the build's `cmdline` file). Its berth.verity/roothash/hashoffset
   * are replaced by the slot's. Default: the options of the entry the disk boots now, likewise rewritten.
   */
  readonly cmdline?: string;
}

export interface InstallProgress {
  /** `prepare`, `write` (uncompressed bytes of the root image), `verify`, `esp` (steps), `commit`. */
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

export type SlotName = 'A' | 'B';

/** A boot entry's state under systemd-boot's boot counting. */
export type EntryState = 'good' | 'trying' | 'bad';

export interface BootEntryInfo {
  /** File name under loader/entries/, with its counter (`berth-2+2-1.conf`). */
  readonly file: string;
  readonly version: string;
  readonly slot: SlotName | undefined;
  readonly rootHash: string | undefined;
  /** `good`: no counter (blessed, or installed without one); `trying`: tries left; `bad`: none left. */
  readonly state: EntryState;
  readonly triesLeft: number | undefined;
  readonly triesDone: number | undefined;
  /** Install generation (the entry's `version` field, which is what systemd-boot sorts berth's entries by). */
  readonly generation: number;
  /** The kernel command line it boots with. */
  readonly options: string;
}

export interface SlotState {
  readonly name: SlotName;
  readonly partlabel: string;
  readonly offset: number;
  readonly size: number;
  /** The entry that boots this slot, if any (at most one: installing into a slot removes its old entry). */
  readonly entry: BootEntryInfo | undefined;
}

export interface SlotInfo {
  /** The slot the host runs from (kernel command line), or for a disk image file the default entry's slot. */
  readonly active: SlotName;
  readonly activeFrom: 'cmdline' | 'esp';
  /** The slot the next install writes. */
  readonly inactive: SlotName;
  readonly slots: readonly [SlotState, SlotState];
  /** All berth entries in systemd-boot's order; the first is the default of the next boot. */
  readonly entries: readonly BootEntryInfo[];
  readonly defaultEntry: BootEntryInfo | undefined;
}

export interface UpdateInstaller {
  install(plan: InstallPlan, progress: (p: InstallProgress) => void, signal: AbortSignal): Promise<void>;
  slots(): Promise<SlotInfo>;
}
