// The EFI system partition, read and written with mtools on `<disk>@@<offset>`: no mount, so it works the same
// on the host's boot disk and on a disk image file, and nothing is left mounted after a crash.
//
// Crash safety comes from the order of the steps: the kernel and initramfs go to /berth/<version>/ and the new
// entry to a hidden name (`.berth-…tmp`: systemd-boot skips files starting with a dot and files not ending in
// .conf), and only the last step, one `mren` to `berth-<version>+3.conf`, makes systemd-boot see it. Before
// that rename the next boot is exactly what it was. The new entry is the next boot's default because it
// carries the highest install generation (see entries.ts for why the order, not loader.conf, decides).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeEntry, entryFileName, entryText, INITIAL_TRIES, kernelDir, parseEntryName, sortEntries, type EntryContent } from './entries.js';
import { run, ToolError } from './run.js';
import type { BootEntryInfo } from './types.js';

const ENTRIES = '::/loader/entries';

export interface StagedEntry {
  readonly tmp: string;
  readonly final: string;
}

export class Esp {
  private readonly image: string;

  constructor(private readonly disk: string, private readonly offset: number, private readonly signal?: AbortSignal) {
    this.image = `${disk}@@${offset}`;
  }

  /** The same ESP, its commands not stopped by the operation's signal (writes that must not be cut short). */
  withoutSignal(): Esp {
    return new Esp(this.disk, this.offset);
  }

  private m(cmd: string, args: readonly string[]): Promise<string> {
    return run(cmd, ['-i', this.image, ...args], this.signal ? { signal: this.signal } : {});
  }

  /** Names in a directory (bare), or [] when it does not exist. */
  async list(dir: string): Promise<string[]> {
    try {
      const out = await this.m('mdir', ['-b', dir]);
      return out.split('\n').filter(Boolean).map((l) => path.posix.basename(l.replace(/\/$/, '')));
    } catch (e) {
      if (e instanceof ToolError && /not found/i.test(e.stderr)) return [];
      throw e;
    }
  }

  read(file: string): Promise<string> {
    return this.m('mtype', [file]);
  }

  /** Every berth entry with what it boots, in systemd-boot's order (the first is the next boot's default). */
  async entries(): Promise<BootEntryInfo[]> {
    const out: BootEntryInfo[] = [];
    for (const name of await this.list(ENTRIES)) {
      if (!parseEntryName(name)) continue;
      const info = describeEntry(name, await this.read(`${ENTRIES}/${name}`));
      if (info) out.push(info);
    }
    return sortEntries(out);
  }

  private async mkdirs(dir: string): Promise<void> {
    let cur = '::';
    for (const part of dir.split('/').filter(Boolean)) {
      const parent = cur;
      cur = `${cur}/${part}`;
      if (!(await this.list(parent === '::' ? '::/' : parent)).includes(part)) await this.m('mmd', [cur]);
    }
  }

  private async putText(text: string, target: string): Promise<void> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-esp-'));
    try {
      const local = path.join(dir, 'f');
      await writeFile(local, text);
      await this.m('mcopy', ['-D', 'o', local, target]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Remove what a crash may have left: hidden staged entries. */
  async removeStaged(): Promise<void> {
    for (const name of await this.list(ENTRIES)) if (name.startsWith('.berth-')) await this.m('mdel', [`${ENTRIES}/${name}`]);
  }

  /** Remove an entry and its kernel dir (before its slot is overwritten: the entry would boot the new bytes with the old hash). */
  async removeEntry(entry: BootEntryInfo): Promise<void> {
    await this.m('mdel', [`${ENTRIES}/${entry.file}`]);
    await this.removeKernelDir(entry.version);
  }

  async removeKernelDir(version: string): Promise<void> {
    if ((await this.list('::/berth')).includes(version)) await this.m('mdeltree', [`::${kernelDir(version)}`]);
  }

  /** Kernel, initramfs and the hidden entry: everything but the step that makes systemd-boot see it. */
  async stage(content: EntryContent, kernel: string, initramfs: string, step: (done: number) => void): Promise<StagedEntry> {
    const dir = kernelDir(content.version);
    await this.removeKernelDir(content.version);
    await this.mkdirs(dir);
    await this.m('mcopy', ['-D', 'o', kernel, `::${dir}/vmlinuz`]);
    step(1);
    await this.m('mcopy', ['-D', 'o', initramfs, `::${dir}/initrd.img`]);
    step(2);
    await this.mkdirs('/loader/entries');
    const final = entryFileName(content.version, INITIAL_TRIES);
    const tmp = `.${final}.tmp`;
    await this.putText(entryText(content), `${ENTRIES}/${tmp}`);
    step(3);
    return { tmp, final };
  }

  /** The commit point: one rename, after which the new entry is the next boot's default. */
  async commit(staged: StagedEntry): Promise<void> {
    await this.m('mren', [`${ENTRIES}/${staged.tmp}`, `${ENTRIES}/${staged.final}`]);
  }

  /** Mark an entry as out of tries (`+0`), as a failed boot would: systemd-boot then sorts it last. */
  async markBad(entry: BootEntryInfo): Promise<string> {
    const to = entryFileName(entry.version, 0, entry.triesDone);
    if (to !== entry.file) await this.m('mren', [`${ENTRIES}/${entry.file}`, `${ENTRIES}/${to}`]);
    return to;
  }

  /**
   * `update rollback`: the next boot runs the previous good version. The current default is marked bad, which
   * only changes the order if a good (blessed) entry follows it; without one nothing is changed.
   */
  async rollback(): Promise<{ from: BootEntryInfo; to: BootEntryInfo }> {
    const [current, ...rest] = await this.entries();
    if (!current) throw new Error('the ESP has no berth boot entries; nothing to roll back');
    const previous = rest.find((e) => e.state === 'good' && e.file !== current.file);
    if (!previous || current.state === 'bad') {
      throw new Error(`no previous good version to roll back to (next boot: ${current.file}; other entries: ${rest.map((e) => e.file).join(', ') || 'none'})`);
    }
    await this.markBad(current);
    return { from: current, to: previous };
  }
}
