// Reads the GPT partition table of a block device or a disk image file, natively: sfdisk/sgdisk are not in
// the host image, and the table is small and well specified (UEFI spec, chapter 5). Both CRCs are checked,
// so a torn or foreign table is refused rather than trusted: the updater writes at the offsets found here.
import { open } from 'node:fs/promises';

export interface GptPartition {
  /** 1-based, as in /dev/vdaN. */
  readonly number: number;
  readonly name: string;
  readonly typeGuid: string;
  readonly guid: string;
  readonly firstLba: bigint;
  readonly lastLba: bigint;
  /** Byte offset and size on the disk. */
  readonly offset: number;
  readonly size: number;
}

export interface GptTable {
  readonly sectorSize: number;
  readonly diskGuid: string;
  readonly partitions: readonly GptPartition[];
}

export const ESP_TYPE_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

const SIGNATURE = 'EFI PART';
const MAX_ENTRIES_BYTES = 1 << 20;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** GUIDs are stored mixed-endian: the first three fields little-endian, the rest as bytes. */
export function formatGuid(b: Buffer): string {
  const hex = (x: Buffer) => x.toString('hex');
  const le = (s: number, e: number) => hex(Buffer.from(b.subarray(s, e)).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`.toUpperCase();
}

function toSafeNumber(v: bigint, what: string, disk: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${disk}: GPT ${what} ${v} is out of range`);
  return Number(v);
}

export async function readGpt(disk: string): Promise<GptTable> {
  const fh = await open(disk, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`cannot open boot disk ${disk}: ${e.code ?? e.message}`);
  });
  try {
    // The header sits in LBA 1; a 4Kn disk puts it at 4096 instead of 512.
    const head = Buffer.alloc(8192);
    await fh.read(head, 0, head.length, 0);
    const sectorSize = [512, 4096].find((s) => head.toString('latin1', s, s + 8) === SIGNATURE);
    if (!sectorSize) throw new Error(`${disk} has no GPT partition table (no "EFI PART" header in LBA 1)`);
    const h = head.subarray(sectorSize, sectorSize + 512);
    const headerSize = h.readUInt32LE(12);
    if (headerSize < 92 || headerSize > 512) throw new Error(`${disk}: GPT header size ${headerSize} is invalid`);
    const hdr = Buffer.from(h.subarray(0, headerSize));
    const headerCrc = hdr.readUInt32LE(16);
    hdr.writeUInt32LE(0, 16);
    if (crc32(hdr) !== headerCrc) throw new Error(`${disk}: GPT header CRC does not match (damaged or half-written table)`);
    const entriesLba = h.readBigUInt64LE(72);
    const count = h.readUInt32LE(80);
    const entrySize = h.readUInt32LE(84);
    const entriesCrc = h.readUInt32LE(88);
    if (entrySize < 128 || entrySize % 8 !== 0 || count * entrySize > MAX_ENTRIES_BYTES) {
      throw new Error(`${disk}: GPT partition array (${count} × ${entrySize} bytes) is invalid`);
    }
    const entries = Buffer.alloc(count * entrySize);
    const { bytesRead } = await fh.read(entries, 0, entries.length, toSafeNumber(entriesLba, 'entry array LBA', disk) * sectorSize);
    if (bytesRead !== entries.length || crc32(entries) !== entriesCrc) {
      throw new Error(`${disk}: GPT partition array CRC does not match (damaged or half-written table)`);
    }
    const partitions: GptPartition[] = [];
    for (let i = 0; i < count; i++) {
      const e = entries.subarray(i * entrySize, (i + 1) * entrySize);
      if (e.subarray(0, 16).every((b) => b === 0)) continue; // unused slot
      const firstLba = e.readBigUInt64LE(32);
      const lastLba = e.readBigUInt64LE(40);
      const name = e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
      if (lastLba < firstLba) throw new Error(`${disk}: GPT partition ${i + 1} (${name}) ends before it starts`);
      partitions.push({
        number: i + 1,
        name,
        typeGuid: formatGuid(e.subarray(0, 16)),
        guid: formatGuid(e.subarray(16, 32)),
        firstLba,
        lastLba,
        offset: toSafeNumber(firstLba, 'partition start', disk) * sectorSize,
        size: toSafeNumber(lastLba - firstLba + 1n, 'partition size', disk) * sectorSize,
      });
    }
    return { sectorSize, diskGuid: formatGuid(h.subarray(56, 72)), partitions };
  } finally {
    await fh.close();
  }
}

/** The one partition named `name`; a missing or duplicated name is an error naming the disk. */
export function partitionNamed(table: GptTable, name: string, disk: string): GptPartition {
  const found = table.partitions.filter((p) => p.name === name);
  if (found.length === 0) throw new Error(`${disk} has no partition named ${name} (found: ${table.partitions.map((p) => p.name || '(unnamed)').join(', ') || 'none'})`);
  if (found.length > 1) throw new Error(`${disk} has ${found.length} partitions named ${name} (partitions ${found.map((p) => p.number).join(', ')}); refusing to guess`);
  return found[0]!;
}
