// Boot entries of the A/B updater (src/updates/disk/entries.ts), without a disk: names with boot counters,
// systemd-boot's order (which decides the next boot), the slot's kernel command line, input checks; and the
// GPT reader's CRC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkRootHash, checkVersion, describeEntry, entryFileName, entryText, nextGeneration, parseEntryName, slotCmdline, slotOfCmdline, sortEntries, verscmp,
} from '../../src/updates/disk/entries.js';
import { crc32, formatGuid } from '../../src/updates/disk/gpt.js';
import type { BootEntryInfo } from '../../src/updates/disk/types.js';

const H1 = 'a'.repeat(64);

function entry(file: string, generation: number, slot: 'A' | 'B' = 'A'): BootEntryInfo {
  const info = describeEntry(file, entryText({ version: parseEntryName(file)!.version, generation, options: slotCmdline('ro', slot, H1, 4096) }));
  assert.ok(info, file);
  return info;
}

test('entry names: counters parsed as systemd-boot does; other files are not berth entries', () => {
  assert.deepEqual(parseEntryName('berth-2.0.0+3.conf'), { version: '2.0.0', triesLeft: 3, triesDone: undefined });
  assert.deepEqual(parseEntryName('berth-2.0.0+0-3.conf'), { version: '2.0.0', triesLeft: 0, triesDone: 3 });
  assert.deepEqual(parseEntryName('berth-1.2-rc1.conf'), { version: '1.2-rc1', triesLeft: undefined, triesDone: undefined });
  assert.equal(parseEntryName('.berth-2+3.conf.tmp'), undefined);
  assert.equal(parseEntryName('other-1.conf'), undefined);
  assert.equal(entryFileName('2.0.0', 3), 'berth-2.0.0+3.conf');
  assert.equal(entryFileName('2.0.0', 0, 2), 'berth-2.0.0+0-2.conf');
  assert.equal(entryFileName('2.0.0'), 'berth-2.0.0.conf');
});

test('bad input is refused with the field named', () => {
  assert.throws(() => checkVersion('2+1'), /version "2\+1" is invalid/);
  assert.throws(() => checkVersion(''), /version "" is invalid/);
  assert.throws(() => checkVersion('../x'), /version "..\/x" is invalid/);
  assert.throws(() => checkRootHash('ABC'), /rootHash "ABC" is invalid/);
  assert.doesNotThrow(() => checkRootHash(H1));
});

test("systemd-boot's order: entries out of tries last, then the highest install generation, whatever the version", () => {
  const v1 = entry('berth-1.0.0.conf', 1);
  const v2 = entry('berth-2.0.0+3.conf', 2, 'B');
  assert.deepEqual(sortEntries([v1, v2]).map((e) => e.file), ['berth-2.0.0+3.conf', 'berth-1.0.0.conf']);
  // A pinned downgrade installed later boots next.
  const v09 = entry('berth-0.9.0+3.conf', 3);
  assert.equal(sortEntries([v2, v09])[0]!.file, 'berth-0.9.0+3.conf');
  // Out of tries: falls behind, as systemd-boot's fallback does.
  const bad = entry('berth-2.0.0+0-3.conf', 2, 'B');
  assert.equal(bad.state, 'bad');
  assert.deepEqual(sortEntries([bad, v1]).map((e) => e.file), ['berth-1.0.0.conf', 'berth-2.0.0+0-3.conf']);
  assert.equal(entry('berth-2.0.0+2-1.conf', 2).state, 'trying');
  assert.equal(nextGeneration([v1, v2, bad]), 3);
  assert.equal(nextGeneration([]), 1);
  assert.ok(verscmp('berth-10', 'berth-9') > 0);
  assert.ok(verscmp('1.2.0', '1.10.0') < 0);
});

test("the slot's command line: the verity arguments replaced in place, everything else kept", () => {
  const base = 'console=ttyS0 root=/dev/mapper/vroot ro berth.verity=/dev/vda berth.roothash=00 berth.hashoffset=1 quiet';
  const out = slotCmdline(base, 'B', H1, 8192);
  assert.equal(out, `console=ttyS0 root=/dev/mapper/vroot ro berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-B berth.roothash=${H1} berth.hashoffset=8192 quiet`);
  assert.equal(slotOfCmdline(out), 'B');
  assert.equal(slotOfCmdline('ro berth.verity=PARTLABEL=BERTH-ROOT-A'), 'A');
  assert.equal(slotOfCmdline(base), undefined);
  assert.equal(slotCmdline('ro', 'A', H1, 1), `ro berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A berth.roothash=${H1} berth.hashoffset=1`);
  const e = describeEntry('berth-3+3.conf', entryText({ version: '3', generation: 4, options: out }))!;
  assert.deepEqual([e.slot, e.rootHash, e.generation, e.version], ['B', H1, 4, '3']);
});

test('GPT helpers: CRC-32 and mixed-endian GUIDs', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  const espType = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex');
  assert.equal(formatGuid(espType), 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
});
