// How much disk will a layer take once unpacked? Measured on the bytes of the blob while they stream into the
// content store, before containerd's Diff.Apply (which does the real unpack, out of berthd's reach) ever
// sees them, so an oversized layer is refused before it is unpacked.
//
// Why this measure, and why it is reliable:
// - Decompressed bytes are counted as zlib produces them, and the scan stops past the limit: a gzip bomb
//   (200 MiB of zeros in 200 KiB) costs at most the limit in CPU and nothing on disk. containerd's applier
//   reads the whole decompressed stream too (the diff id is the digest of all of it), so this is the
//   stream it would read.
// - The tar headers inside are parsed as they pass (a small state machine, no buffering of file data) and
//   every entry's declared size is summed, rounded up to 4 KiB blocks: a header declaring a 1 TiB file, or
//   a GNU/PAX sparse entry whose real size dwarfs its stored bytes (containerd writes sparse files out in
//   full), is refused the moment its header is read, however short the stream behind it.
// - The layer's unpacked size is the larger of the two. Header-only entry types (links, dirs, devices) are
//   parsed the way Go's archive/tar (containerd's reader) does: their size field does not move the stream.
// - zstd cannot be decompressed by Node 20's zlib, so zstd layers are refused by the importer rather than
//   let through unmeasured.
// Entry names are checked too: a `..` component in a name or a hard link target is refused (containerd
// would clamp it into the snapshot, but no legitimate image needs it and it is the shape of an attack).
import { createGunzip, type Gunzip } from 'node:zlib';
import { ImportError } from './archive-file.js';

const BLOCK = 512;
/** Largest PAX / GNU long-name record read into memory (Go's archive/tar has the same 1 MiB limit). */
const MAX_SPECIAL = 1 << 20;
const DISK_BLOCK = 4096;

export type BlobKind = 'gzip' | 'tar' | 'zstd' | 'other';

export interface ScanResult {
  kind: BlobKind;
  /** Decompressed bytes of the blob (= blob size when not compressed). */
  streamBytes: number;
  /** Σ over entries of the declared size (sparse: the real size), rounded up to 4 KiB; dirs one block. */
  declaredBytes: number;
  /** What the layer is taken to need on disk: max(streamBytes, declaredBytes). */
  unpackedSize: number;
  /** Set when the blob is not a well-formed (gzip'ed) tar; harmless unless the blob is a layer. */
  problem?: string;
}

/** A layer over `images.max-unpacked-size`: refused while it streams. */
export class UnpackedSizeError extends ImportError {
  constructor(readonly blob: string, readonly limit: number, readonly reached: number, how: string) {
    super(`images import: ${blob} unpacks to more than the limit of ${limit} bytes (images.max-unpacked-size): ${how}`);
    this.name = 'ImportError';
  }
}

const roundUp = (n: number): number => Math.ceil(n / DISK_BLOCK) * DISK_BLOCK;

/** Octal (NUL/space terminated) or base-256 (GNU, high bit set) numeric field; NaN if malformed. */
function numeric(b: Buffer): number {
  if (b.length > 0 && (b[0]! & 0x80) !== 0) {
    let n = b[0]! & 0x7f;
    if (n & 0x40) return NaN; // negative
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const text = b.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

function checksumOk(h: Buffer): boolean {
  const want = numeric(h.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return want === unsigned || want === signed;
}

const cstr = (b: Buffer): string => b.toString('utf8').replace(/\0.*$/s, '');
const hasDotDot = (name: string): boolean => name.split('/').includes('..');

/** PAX records `"%d %s=%s\n"`; undefined when malformed. */
function paxRecords(data: Buffer): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break; // NUL padding some writers leave
    const sp = data.indexOf(0x20, at);
    if (sp < 0) return undefined;
    const len = Number(data.subarray(at, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= sp - at || at + len > data.length) return undefined;
    const rec = data.subarray(sp + 1, at + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq < 0) return undefined;
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}

type TarState =
  | { s: 'header' }
  | { s: 'skip'; left: number }
  | { s: 'special'; type: string; left: number; pad: number; parts: Buffer[] }
  | { s: 'sparse-ext' }
  | { s: 'done' };

/** Parses tar headers from a byte stream fed in arbitrary chunks; counts sizes. */
class TarCounter {
  streamBytes = 0;
  declaredBytes = 0;
  problem: string | undefined;
  entries = 0;
  private state: TarState = { s: 'header' };
  private pending = Buffer.alloc(0);
  private pax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;

  constructor(private readonly check: () => void) {}

  push(chunk: Buffer): void {
    this.streamBytes += chunk.length;
    if (this.state.s === 'done' || this.problem) {
      this.check();
      return;
    }
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0 && this.state.s !== 'done' && !this.problem) {
      const st: TarState = this.state;
      if (st.s === 'skip') {
        const n = Math.min(st.left, data.length);
        st.left -= n;
        data = data.subarray(n);
        if (st.left === 0) this.state = { s: 'header' };
        continue;
      }
      if (st.s === 'special') {
        const n = Math.min(st.left, data.length);
        st.parts.push(Buffer.from(data.subarray(0, n)));
        st.left -= n;
        data = data.subarray(n);
        if (st.left === 0) {
          this.special(st.type, Buffer.concat(st.parts));
          this.state = st.pad > 0 ? { s: 'skip', left: st.pad } : { s: 'header' };
        }
        continue;
      }
      if (data.length < BLOCK) {
        this.pending = Buffer.from(data);
        break;
      }
      const block = data.subarray(0, BLOCK);
      data = data.subarray(BLOCK);
      if (st.s === 'sparse-ext') {
        // Old GNU sparse: extension blocks of the sparse map until one says "no more" (byte 504).
        if (block[504] === 0) this.state = this.afterSparseExt;
        continue;
      }
      this.header(block);
    }
    this.check();
  }

  private afterSparseExt: TarState = { s: 'header' };

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      // End of archive. What follows is still read (and counted) by containerd, never unpacked.
      this.state = { s: 'done' };
      return;
    }
    if (!checksumOk(h)) {
      this.problem = this.entries === 0 ? 'not a tar stream' : `tar header ${this.entries + 1} is corrupt (bad checksum)`;
      return;
    }
    this.entries++;
    const type = String.fromCharCode(h[156]!);
    let size = numeric(h.subarray(124, 136));
    if (Number.isNaN(size)) {
      this.problem = `tar header ${this.entries} has an invalid size`;
      return;
    }
    const paxSize = this.pax.get('size');
    if (paxSize !== undefined) size = Number(paxSize);
    if (!Number.isFinite(size) || size < 0) {
      this.problem = `tar header ${this.entries} has an invalid size`;
      return;
    }
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > MAX_SPECIAL) {
        this.problem = `tar metadata record of ${size} bytes (at most ${MAX_SPECIAL})`;
        return;
      }
      this.state = size === 0 ? { s: 'header' } : { s: 'special', type, left: size, pad: padded - size, parts: [] };
      return;
    }
    // A file entry: its name (GNU long name, PAX path, ustar prefix/name), its real size, its disk cost.
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic.startsWith('ustar') ? cstr(h.subarray(345, 500)) : '';
    const name = this.longName ?? this.pax.get('path') ?? (prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100)));
    const link = this.longLink ?? this.pax.get('linkpath') ?? cstr(h.subarray(157, 257));
    if (hasDotDot(name)) this.problem = `entry ${JSON.stringify(name.slice(0, 200))} has a ".." path component`;
    else if (type === '1' && hasDotDot(link)) this.problem = `hard link ${JSON.stringify(name.slice(0, 200))} points at ${JSON.stringify(link.slice(0, 200))}, outside the layer`;
    let real = size;
    for (const k of ['GNU.sparse.realsize', 'GNU.sparse.size']) {
      const v = this.pax.get(k);
      if (v !== undefined) real = Math.max(real, Number(v));
    }
    if (type === 'S') real = Math.max(real, numeric(h.subarray(483, 495)) || 0);
    if (!Number.isFinite(real)) real = Number.MAX_SAFE_INTEGER;
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;
    // Header-only types do not carry data in Go's reader whatever their size field says.
    const headerOnly = '123456'.includes(type);
    if (type === '5') this.declaredBytes += DISK_BLOCK;
    else if (!headerOnly) this.declaredBytes += roundUp(real);
    const skip = headerOnly ? 0 : padded;
    if (type === 'S' && h[482] !== 0) {
      this.afterSparseExt = skip > 0 ? { s: 'skip', left: skip } : { s: 'header' };
      this.state = { s: 'sparse-ext' };
    } else this.state = skip > 0 ? { s: 'skip', left: skip } : { s: 'header' };
  }

  private special(type: string, data: Buffer): void {
    if (type === 'L') this.longName = cstr(data);
    else if (type === 'K') this.longLink = cstr(data);
    else if (type === 'x') {
      const recs = paxRecords(data);
      if (!recs) this.problem = `tar header ${this.entries} has malformed PAX records`;
      else this.pax = recs;
    }
  }

  finish(): void {
    if (this.problem) return;
    if (this.entries === 0 && this.state.s !== 'done') this.problem = 'not a tar stream';
    else if (this.state.s !== 'done' && (this.state.s !== 'header' || this.pending.length > 0)) this.problem = 'tar stream is truncated';
  }
}

/**
 * Scans one blob's bytes as they stream: `push` each chunk (it rejects with UnpackedSizeError past the
 * limit, which aborts the blob's write), then `end` for the result.
 */
export class BlobScanner {
  private head = Buffer.alloc(0);
  private kind: BlobKind | undefined;
  private gunzip: Gunzip | undefined;
  private gunzipDone: Promise<void> | undefined;
  private readonly tar: TarCounter;
  private failure: Error | undefined;
  private gzipProblem: string | undefined;

  constructor(private readonly blob: string, private readonly limit: number) {
    this.tar = new TarCounter(() => this.checkLimit());
  }

  private checkLimit(): void {
    if (this.failure) return;
    if (this.tar.problem) {
      // Not a well-formed tar: never unpacked (the importer refuses such a layer), so its size does not
      // matter and decompressing the rest would only burn CPU (a bomb of non-tar bytes).
      this.gunzip?.destroy();
      return;
    }
    if (this.tar.declaredBytes > this.limit) {
      this.failure = new UnpackedSizeError(this.blob, this.limit, this.tar.declaredBytes, `its tar headers declare ${this.tar.declaredBytes} bytes of files`);
    } else if (this.tar.streamBytes > this.limit) {
      this.failure = new UnpackedSizeError(this.blob, this.limit, this.tar.streamBytes, `more than ${this.limit} bytes once decompressed`);
    }
    if (this.failure) this.gunzip?.destroy();
  }

  private start(head: Buffer): void {
    if (head[0] === 0x1f && head[1] === 0x8b) {
      this.kind = 'gzip';
      const gz = createGunzip();
      this.gunzip = gz;
      gz.on('data', (c: Buffer) => {
        if (!this.failure) this.tar.push(c);
      });
      this.gunzipDone = new Promise<void>((resolve) => {
        gz.once('end', resolve);
        gz.once('close', resolve);
        gz.once('error', (e: Error) => {
          this.gzipProblem = `not valid gzip (${e.message})`;
          resolve();
        });
      });
    } else if (head.readUInt32LE(0) === 0xfd2fb528) this.kind = 'zstd';
    else this.kind = 'tar';
  }

  private feed(chunk: Buffer): Promise<void> {
    if (this.kind === 'zstd') return Promise.resolve();
    if (this.kind === 'tar') {
      this.tar.push(chunk);
      return Promise.resolve();
    }
    const gz = this.gunzip!;
    if (gz.destroyed || this.gzipProblem) return Promise.resolve();
    // The write callback runs once zlib has consumed the chunk and emitted its output (counted above).
    // Raced with the stream's end: a destroyed zlib (limit reached) may never call it back.
    return Promise.race([new Promise<void>((resolve) => gz.write(chunk, () => resolve())), this.gunzipDone!]);
  }

  async push(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.kind === undefined) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 4) return;
      this.start(this.head);
      chunk = this.head;
      this.head = Buffer.alloc(0);
    }
    await this.feed(chunk);
    if (this.failure) throw this.failure;
  }

  async end(): Promise<ScanResult> {
    if (this.failure) throw this.failure;
    if (this.kind === undefined) {
      // Under 4 bytes: no gzip stream is that short; the tar parser calls it "not a tar stream".
      this.kind = 'tar';
      this.tar.push(this.head);
    }
    if (this.gunzip && !this.gunzip.destroyed) {
      this.gunzip.end();
      await this.gunzipDone;
    }
    if (this.failure) throw this.failure;
    this.tar.finish();
    const problem = this.kind === 'zstd' ? 'zstd-compressed' : this.gzipProblem ?? this.tar.problem;
    const kind: BlobKind = this.kind === 'tar' && this.tar.problem === 'not a tar stream' ? 'other' : this.kind!;
    return {
      kind,
      streamBytes: this.tar.streamBytes,
      declaredBytes: this.tar.declaredBytes,
      unpackedSize: Math.max(this.tar.streamBytes, this.tar.declaredBytes),
      ...(problem ? { problem } : {}),
    };
  }

  /** Release zlib if the blob's stream ended early (an error elsewhere). */
  dispose(): void {
    this.gunzip?.destroy();
  }
}
