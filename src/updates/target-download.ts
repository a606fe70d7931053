// A target's download in one pass: each chunk is written to `<path>.part` and hashed as it arrives, and the
// file takes its name only once tuf-js's own check (TargetFile.verify: the signed length and every signed
// hash) has passed. tuf-js's downloadTarget writes a temporary file, reads it back to hash it and then copies
// it (synchronously) to its place: three passes over a root image of hundreds of MB, the largest cost of an
// `update apply` before the disk (bench: `npm run bench -- --only update`). The checks are the same; a
// chunk past the signed length ends the download at once, as tuf-js's fetcher does.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { TargetFile } from 'tuf-js';
import { DownloadLengthMismatchError } from 'tuf-js/dist/error.js';
import type { RepositoryFetcher } from './fetcher.js';

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
