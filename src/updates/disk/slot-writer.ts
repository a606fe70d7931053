// Streams a gzip-compressed root image into a slot: decompressed chunk by chunk and written with positional
// writes at the slot's byte offset on the disk, never the whole image in memory and never a byte past the
// slot's end. Progress is made durable at checkpoints (fdatasync of the disk, then the byte count in a small
// state file, in that order), so a run that is killed continues from its last checkpoint: gzip cannot seek,
// so the stream is decompressed again from the start but the bytes already on disk are not written again.
// A resume is only taken when everything that determines the bytes matches (disk, slot, image file,
// version, root hash); the verify step afterwards is the final word, and the installer rewrites the slot
// from scratch once if a resumed write does not verify.
import { createReadStream } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { TransformOptions } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { SlotName } from './types.js';

export const STATE_FILE = 'slot-write.json';
const CHUNK = 1 << 20;
/** Room for a few chunks ahead, so zlib (in the thread pool) inflates while a chunk is being written. */
const INFLATE: ZlibOptions & TransformOptions = { chunkSize: CHUNK, readableHighWaterMark: 4 * CHUNK };

/** Everything that determines what ends up in the slot; a resume requires all of it to match. */
export interface WriteIdentity {
  readonly disk: string;
  readonly slot: SlotName;
  readonly offset: number;
  readonly size: number;
  readonly version: string;
  readonly rootHash: string;
  readonly hashOffset: number;
  readonly image: { readonly path: string; readonly size: number; readonly mtimeMs: number; readonly ino: number };
}

export interface WriteState {
  readonly identity: WriteIdentity;
  /** Uncompressed bytes known to be on disk. */
  readonly written: number;
  readonly complete: boolean;
  /** A loop device attached for verification (detached on the next run if a crash left it). */
  readonly loop?: string | undefined;
}

export class SlotTooSmallError extends Error {
  override readonly name = 'SlotTooSmallError';
}

export async function imageIdentity(file: string): Promise<WriteIdentity['image']> {
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`root image ${file} cannot be read: ${e.code ?? e.message}`);
  });
  if (!st.isFile()) throw new Error(`root image ${file} is not a regular file`);
  return { path: path.resolve(file), size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

export async function loadState(dir: string): Promise<WriteState | undefined> {
  try {
    const s = JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8')) as WriteState;
    return typeof s.written === 'number' && s.identity ? s : undefined;
  } catch {
    return undefined; // none, or unreadable: start over, which is always safe
  }
}

export async function saveState(dir: string, s: WriteState): Promise<void> {
  await writeFileAtomic(path.join(dir, STATE_FILE), `${JSON.stringify(s)}\n`, { mode: 0o600 });
}

export async function clearState(dir: string): Promise<void> {
  await unlink(path.join(dir, STATE_FILE)).catch(() => undefined);
}

export function sameIdentity(a: WriteIdentity, b: WriteIdentity): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * gzip's trailer holds the uncompressed size mod 2^32 (of the last member). The true size is at least that,
 * so an ISIZE larger than the slot proves the image does not fit: refuse before writing anything.
 */
async function gzipSizeHint(file: string, size: number): Promise<number> {
  if (size < 18) return 0;
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, size - 4);
    return b.readUInt32LE(0);
  } finally {
    await fh.close();
  }
}

export interface WriteSlotOptions {
  readonly identity: WriteIdentity;
  readonly stateDir: string;
  /** Uncompressed bytes already on disk from an earlier run of the same identity. */
  readonly resumeFrom: number;
  readonly checkpointBytes: number;
  readonly progress: (done: number, total: number) => void;
  readonly signal: AbortSignal;
}

/** Returns the image's uncompressed size. */
export async function writeSlot(o: WriteSlotOptions): Promise<number> {
  const id = o.identity;
  const hint = await gzipSizeHint(id.image.path, id.image.size);
  if (hint > id.size) throw new SlotTooSmallError(`root image ${id.image.path} (${hint} bytes uncompressed) is bigger than slot ${id.slot} (${id.size} bytes); nothing was written`);
  const disk = await open(id.disk, 'r+');
  let pos = 0;
  let checkpointAt = o.resumeFrom;
  const src = createReadStream(id.image.path, { highWaterMark: CHUNK });
  const checkpoint = async (complete: boolean) => {
    await disk.datasync();
    await saveState(o.stateDir, { identity: id, written: pos, complete });
    checkpointAt = pos;
  };
  // A checkpoint within the write runs beside it (the flush of 64 MiB would otherwise stall decompression):
  // it records the position reached when its fdatasync started, all of whose writes had returned, so the
  // record never claims more than is on disk. One at a time; the next waits for it.
  let pending: Promise<void> | undefined;
  const checkpointBeside = async () => {
    await pending;
    const at = pos;
    checkpointAt = at;
    pending = disk.datasync().then(() => saveState(o.stateDir, { identity: id, written: at, complete: false }));
    pending.catch(() => undefined); // awaited (and thrown) at the next checkpoint or the end
  };
  // A resumed write says where it starts; the fast-forward below (decompressing what is on disk already) is silent.
  if (o.resumeFrom > 0) o.progress(o.resumeFrom, Math.max(hint, o.resumeFrom));
  try {
    await pipeline(
      src,
      createGunzip(INFLATE),
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          const end = pos + chunk.length;
          if (end > id.size) {
            throw new SlotTooSmallError(`root image ${id.image.path} is bigger than slot ${id.slot} (${id.size} bytes); stopped at the slot's end, the running slot is untouched`);
          }
          if (end > o.resumeFrom) {
            const skip = Math.max(0, o.resumeFrom - pos);
            let off = skip;
            while (off < chunk.length) {
              const { bytesWritten } = await disk.write(chunk, off, chunk.length - off, id.offset + pos + off);
              off += bytesWritten;
            }
          }
          pos = end;
          if (pos - checkpointAt >= o.checkpointBytes && pos > o.resumeFrom) await checkpointBeside();
          // Uncompressed bytes; the total is gzip's size field, exact below 4 GiB (an estimate above).
          if (pos > o.resumeFrom) o.progress(pos, Math.max(hint, pos));
        }
      },
      { signal: o.signal },
    ).catch((e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('Z_')) throw new Error(`root image ${id.image.path} is not a valid gzip stream: ${(e as Error).message}`);
      throw e;
    });
    if (pos < o.resumeFrom) throw new Error(`root image ${id.image.path} is shorter (${pos} bytes) than recorded progress (${o.resumeFrom}); restart`);
    await pending;
    await checkpoint(true);
    return pos;
  } finally {
    await pending?.catch(() => undefined);
    await disk.close();
  }
}
