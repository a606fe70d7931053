// A target's download in one pass: each chunk is written to `<path>.part` and hashed as it arrives, and the
// file takes its name only once tuf-js's own check (TargetFile.verify: the signed length and every signed
// hash) has passed. tuf-js's downloadTarget writes a temporary file, reads it back to hash it and then copies
// it (synchronously) to its place: three passes over a root image of hundreds of MB, the largest cost of an
// `update apply` before the disk (bench: `npm run bench -- --only update`). The checks are the same; a
// chunk past the signed length ends the download at once, as tuf-js's fetcher does.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { Readable, Transform, type Duplex } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { TargetFile } from 'tuf-js';
import { DownloadLengthMismatchError } from 'tuf-js/dist/error.js';
import type { RepositoryFetcher } from './fetcher.js';
import { packingOf, unpacker, type Packing } from './disk/unpack.js';

/** The target's URL as tuf-js forms it: with consistent snapshots its name is prefixed with its first hash. */
export function targetUrl(base: string, info: TargetFile, consistentSnapshot: boolean): string {
  let name = info.path;
  if (consistentSnapshot) {
    const slash = name.lastIndexOf('/');
    name = `${name.slice(0, slash + 1)}${Object.values(info.hashes)[0]}.${name.slice(slash + 1)}`;
  }
  return new URL((base.endsWith('/') ? base : `${base}/`) + name.replace(/^\//, '')).toString();
}

/** Downloads `url` to `path`, verified against `info`; nothing is left at `path` unless it verified. */
export async function downloadVerified(fetcher: RepositoryFetcher, url: string, info: TargetFile, path: string): Promise<string> {
  const part = `${path}.part`;
  const body = await fetcher.fetch(url);
  // Writes are queued (not awaited one by one), so hashing a chunk overlaps writing the one before.
  const out = createWriteStream(part, { mode: 0o600, highWaterMark: 4 << 20 });
  let failed: Error | undefined;
  out.on('error', (e) => (failed = e));
  async function* written(): AsyncGenerator<Buffer> {
    let received = 0;
    for await (const c of body) {
      const chunk = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      received += chunk.length;
      if (received > info.length) throw new DownloadLengthMismatchError('Max length reached');
      if (failed) throw failed;
      if (!out.write(chunk)) await once(out, 'drain');
      yield chunk;
    }
  }
  try {
    await info.verify(Readable.from(written()));
    out.end();
    await finished(out);
    await rename(part, path);
    return path;
  } catch (err) {
    out.destroy();
    await finished(out).catch(() => undefined);
    await unlink(part).catch(() => undefined);
    throw err;
  }
}

const FEED_AHEAD = 8 << 20;

/** Where an unpacked root image stays, and the record that says which signed target it came from. */
export function unpackedPaths(path: string): { image: string; record: string } {
  return { image: `${path}.unpacked`, record: `${path}.unpacked.json` };
}

interface UnpackedRecord {
  readonly target: string;
  readonly length: number;
  readonly sha256: string;
  readonly packing: Packing;
  readonly size: number;
}

/**
 * An unpacked root image from an earlier download of the same signed target, if it is whole. The packed
 * bytes are not kept, so they cannot be hashed again: the record (written only after their hash verified) is
 * trusted, as the state partition is. The slot's bytes are checked against the signed root hash
 * (veritysetup verify) before anything boots them, whatever is here.
 */
export async function findUnpacked(info: TargetFile, path: string): Promise<string | undefined> {
  const p = unpackedPaths(path);
  try {
    const r = JSON.parse(await readFile(p.record, 'utf8')) as UnpackedRecord;
    const size = (await stat(p.image)).size;
    const same = r.target === info.path && r.length === info.length && r.sha256 === info.hashes.sha256 && r.size === size;
    return same ? p.image : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Downloads a root image target and unpacks it while it arrives (gzip, zstd or none, by its first bytes; see
 * ./unpack.ts): the packed bytes are hashed (tuf-js's TargetFile.verify) and inflated in one pass, on two
 * cores, and only the image is written, to `<path>.unpacked`. It keeps that name only if the signed length and
 * hashes verified; otherwise nothing is left. Installing it is then a plain copy into the slot (resumable at
 * any byte), the slot is never written while the download is unverified, and nothing is inflated twice.
 * `maxBytes` bounds the unpacked size: the image's verity layout says how big it can be, and a stream that
 * inflates past it (a decompression bomb, within the signed length but before the hash is known) is stopped.
 */
export async function downloadUnpacked(fetcher: RepositoryFetcher, url: string, info: TargetFile, path: string, maxBytes: number): Promise<string> {
  const p = unpackedPaths(path);
  const part = `${p.image}.part`;
  await unlink(p.record).catch(() => undefined);
  const body = await fetcher.fetch(url);
  const out = createWriteStream(part, { mode: 0o600, highWaterMark: 4 << 20 });
  let unpack: Duplex | undefined;
  let packing: Packing = 'none';
  let size = 0;
  let drained: Promise<void> | undefined;
  const start = (head: Buffer) => {
    packing = packingOf(head);
    const u = unpacker(packing, `root image target ${info.path}`);
    unpack = u;
    const bound = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > maxBytes) cb(new Error(`root image target ${info.path} unpacks to more than ${maxBytes} bytes, more than its data and dm-verity hash tree can take; refused`));
        else cb(null, chunk);
      },
    });
    drained = pipeline(u, bound, out);
    drained.catch(() => undefined); // awaited below; an early failure also fails the feed
  };
  async function* fed(): AsyncGenerator<Buffer> {
    let received = 0;
    let head = Buffer.alloc(0);
    for await (const c of body) {
      const chunk = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      received += chunk.length;
      if (received > info.length) throw new DownloadLengthMismatchError('Max length reached');
      if (!unpack) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 4) {
          yield chunk;
          continue;
        }
        start(head);
        await feed(head);
      } else {
        await feed(chunk);
      }
      yield chunk;
    }
    if (!unpack) {
      start(head);
      await feed(head);
    }
  }
  // Unpacking that fails (bad data, or past the bound) stops the writing, not the download: the rest is still
  // hashed, so bytes that are not the signed ones are reported as that, which is what went wrong, rather
  // than as a broken stream; a signed stream that does not unpack is reported after its hash passed.
  let unpackFailed: unknown;
  async function feed(chunk: Buffer): Promise<void> {
    const u = unpack as Duplex;
    if (unpackFailed !== undefined) return;
    try {
      if (u.destroyed) await drained; // it failed: its error, not a write after destroy
      u.write(chunk);
      // Up to a few MiB queued before the download waits (a pipe to zstd takes 64 KiB at a time and would
      // otherwise hold up every chunk until the one before was inflated).
      if (u.writableLength > FEED_AHEAD) await Promise.race([once(u, 'drain'), drained]);
    } catch (err) {
      unpackFailed = err;
      u.destroy();
    }
  }
  try {
    await info.verify(Readable.from(fed()));
    if (unpackFailed !== undefined) throw unpackFailed;
    (unpack as Duplex).end();
    await drained;
    await rename(part, p.image);
    const record: UnpackedRecord = { target: info.path, length: info.length, sha256: info.hashes.sha256 ?? '', packing, size };
    await writeFile(p.record, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    return p.image;
  } catch (err) {
    unpack?.destroy();
    out.destroy();
    await drained?.catch(() => undefined);
    await unlink(part).catch(() => undefined);
    throw err;
  }
}
