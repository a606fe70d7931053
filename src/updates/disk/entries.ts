// Boot entries (Boot Loader Specification type #1) as berth writes and reads them: pure functions, no I/O.
//
// Which entry boots next is decided by systemd-boot's sort order, not by a `default` naming one entry:
// loader.conf says `default berth-*`, and systemd-boot takes the first entry in its order that matches.
// That order puts entries with no tries left (boot counting: `+0-N`) last, then, among entries that all carry
// a `sort-key`, the highest `version` field first. berth writes `sort-key berth` and, as `version`, an install
// generation (one more than any entry on the ESP). So the newest install boots next even when it is a
// pinned downgrade; a version that ran out of tries falls behind the previous one by itself; and a rollback
// on demand marks the default entry bad (`+0`), exactly as a failed boot would have. An exact `default` would
// not work with boot counting: the file (and so the id) is renamed on every try, and a glob naming one
// version would keep choosing it after it went bad.
import type { BootEntryInfo, EntryState, SlotName } from './types.js';

export const ENTRY_PREFIX = 'berth-';
export const SORT_KEY = 'berth';
export const INITIAL_TRIES = 3;
/** The ESP's loader.conf as berth writes it (image/disk.sh writes the same). */
export const LOADER_CONF = 'timeout 0\ndefault berth-*\nconsole-mode keep\neditor no\n';

const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z._~^-]{0,63}$/;
const ROOT_HASH_RE = /^[0-9a-f]{64,128}$/;

export function checkVersion(version: string): void {
  if (!VERSION_RE.test(version)) {
    throw new Error(`version ${JSON.stringify(version)} is invalid: 1–64 characters of letters, digits and . _ ~ ^ - (no "+", which starts a boot counter), starting with a letter or digit`);
  }
}

export function checkRootHash(rootHash: string): void {
  if (!ROOT_HASH_RE.test(rootHash)) throw new Error(`rootHash ${JSON.stringify(rootHash)} is invalid: 64–128 lowercase hex digits`);
}

export interface EntryName {
  readonly version: string;
  readonly triesLeft: number | undefined;
  readonly triesDone: number | undefined;
}

/** `berth-<version>[+LEFT[-DONE]].conf` → its parts; undefined for any other file. */
export function parseEntryName(file: string): EntryName | undefined {
  const m = /^berth-(.+?)(?:\+(\d+)(?:-(\d+))?)?\.conf$/.exec(file);
  if (!m || !VERSION_RE.test(m[1]!)) return undefined;
  return { version: m[1]!, triesLeft: m[2] === undefined ? undefined : Number(m[2]), triesDone: m[3] === undefined ? undefined : Number(m[3]) };
}

export function entryFileName(version: string, triesLeft?: number, triesDone?: number): string {
  checkVersion(version);
  const counter = triesLeft === undefined ? '' : `+${triesLeft}${triesDone === undefined ? '' : `-${triesDone}`}`;
  return `${ENTRY_PREFIX}${version}${counter}.conf`;
}

export function entryState(name: EntryName): EntryState {
  if (name.triesLeft === undefined) return 'good';
  return name.triesLeft > 0 ? 'trying' : 'bad';
}

/** `key value` lines of an entry file. */
export function parseEntryText(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!.trim());
  }
  return fields;
}

export const PARTLABEL_DIR = '/dev/disk/by-partlabel/';

export function slotPartlabel(slot: SlotName): string {
  return `BERTH-ROOT-${slot}`;
}

/** The slot a kernel command line boots (`berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A` or `PARTLABEL=…`). */
export function slotOfCmdline(cmdline: string): SlotName | undefined {
  for (const tok of cmdline.split(/\s+/)) {
    const m = /^berth\.verity=(?:\/dev\/disk\/by-partlabel\/|PARTLABEL=)BERTH-ROOT-([AB])$/.exec(tok);
    if (m) return m[1] as SlotName;
  }
  return undefined;
}

export function cmdlineValue(cmdline: string, key: string): string | undefined {
  for (const tok of cmdline.split(/\s+/)) if (tok.startsWith(`${key}=`)) return tok.slice(key.length + 1);
  return undefined;
}

/** The command line with the slot's verity arguments in place of any there were. */
export function slotCmdline(base: string, slot: SlotName, rootHash: string, hashOffset: number): string {
  const mine: Record<string, string> = {
    'berth.verity': `${PARTLABEL_DIR}${slotPartlabel(slot)}`,
    'berth.roothash': rootHash,
    'berth.hashoffset': String(hashOffset),
  };
  const out: string[] = [];
  for (const tok of base.trim().split(/\s+/).filter(Boolean)) {
    const key = tok.split('=')[0]!;
    if (key in mine) {
      if (mine[key] !== undefined) out.push(`${key}=${mine[key]}`);
      delete mine[key];
    } else out.push(tok);
  }
  for (const [k, v] of Object.entries(mine)) out.push(`${k}=${v}`);
  return out.join(' ');
}

export interface EntryContent {
  readonly version: string;
  readonly generation: number;
  readonly options: string;
}

export function kernelDir(version: string): string {
  return `/berth/${version}`;
}

export function entryText(e: EntryContent): string {
  const dir = kernelDir(e.version);
  return [
    `title berth ${e.version}`,
    `sort-key ${SORT_KEY}`,
    `version ${e.generation}`,
    `linux ${dir}/vmlinuz`,
    `initrd ${dir}/initrd.img`,
    `options ${e.options}`,
    '',
  ].join('\n');
}

/** An entry file as read from the ESP → what the updater needs to know about it. */
export function describeEntry(file: string, text: string): BootEntryInfo | undefined {
  const name = parseEntryName(file);
  if (!name) return undefined;
  const f = parseEntryText(text);
  const options = f.get('options') ?? '';
  const gen = Number(f.get('version'));
  return {
    file,
    version: name.version,
    slot: slotOfCmdline(options),
    rootHash: cmdlineValue(options, 'berth.roothash'),
    state: entryState(name),
    triesLeft: name.triesLeft,
    triesDone: name.triesDone,
    generation: Number.isSafeInteger(gen) && gen >= 0 ? gen : 0,
    options,
  };
}

/** Version-aware string compare (digits runs numerically), close enough to systemd's strverscmp_improved for ids. */
export function verscmp(a: string, b: string): number {
  const seg = (s: string) => s.match(/\d+|[^\d]+/g) ?? [];
  const x = seg(a);
  const y = seg(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    const pn = /^\d/.test(p);
    const qn = /^\d/.test(q);
    const r = pn && qn ? Number(p) - Number(q) : p < q ? -1 : p > q ? 1 : 0;
    if (r !== 0) return Math.sign(r);
  }
  return Math.sign(x.length - y.length);
}

/** systemd-boot's order of berth's entries (all with the same sort-key): the first is the next boot's default. */
export function sortEntries(entries: readonly BootEntryInfo[]): BootEntryInfo[] {
  const left = (e: BootEntryInfo) => e.triesLeft ?? Number.MAX_SAFE_INTEGER;
  return [...entries].sort(
    (a, b) =>
      Number(a.state === 'bad') - Number(b.state === 'bad') ||
      b.generation - a.generation ||
      -verscmp(a.file, b.file) ||
      left(b) - left(a) ||
      (a.triesDone ?? 0) - (b.triesDone ?? 0),
  );
}

export function nextGeneration(entries: readonly BootEntryInfo[]): number {
  return entries.reduce((m, e) => Math.max(m, e.generation), 0) + 1;
}
