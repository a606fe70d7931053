// The first half of an import: every blob of an OCI layout tar streamed into containerd's content store,
// each layer measured (layer-scan.ts) while it streams.
import { extract as tarExtract } from 'tar-stream';
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import type { ContainerdClient } from '../containerd/client.js';
import { writeBlob } from '../containerd/content-writer.js';
import { ImportError } from '../containerd/archive-file.js';
import { BlobScanner, type ScanResult } from '../containerd/layer-scan.js';
import { DiskSpaceError } from './disk-space.js';

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) void _;
}

const MAX_INDEX = 4 << 20;

/**
 * Stream every blob of an OCI layout tar into the content store. index.json is only read, not stored:
 * no image record points at it, so storing it would leave garbage behind on every import. Every blob is
 * scanned as it streams (layer-scan.ts): one past `limit` aborts its write at once.
 */
export async function writeArchiveBlobs(client: ContainerdClient, fh: FileHandle, file: string, namespace: string, lease: string, limit: number): Promise<{ index: Buffer | undefined; sawLayout: boolean; scans: Map<string, ScanResult> }> {
  const extract = tarExtract();
  let index: Buffer | undefined;
  let sawLayout = false;
  let entries = 0;
  const scans = new Map<string, ScanResult>();
  // gzip-compressed archives are accepted too: sniff the magic bytes on the one descriptor (never reopen
  // the path: what was checked is what is read).
  const head = Buffer.alloc(2);
  await fh.read(head, 0, 2, 0);
  // The read stream does not own the descriptor: the caller closes it once, whatever happens here.
  const source = fh.createReadStream({ start: 0, autoClose: false, highWaterMark: 1 << 20 });
  source.on('error', (e: Error) => extract.destroy(e));
  const input = head[0] === 0x1f && head[1] === 0x8b ? source.pipe(createGunzip()) : source;
  input.on('error', (e: Error) => extract.destroy(e));
  // tar-stream reports a short archive on the extractor itself; entry streams only say "destroyed".
  let tarError: Error | undefined;
  extract.on('error', (e: Error) => (tarError = e));
  input.pipe(extract);
  let scanner: BlobScanner | undefined;
  try {
    for await (const entry of extract) {
      entries++;
      const name = path.posix.normalize(entry.header.name).replace(/^(\.\/)+/, '').replace(/^\/+/, '');
      if (entry.header.type !== 'file') {
        await drain(entry);
        continue;
      }
      if (name === 'oci-layout') {
        const layout = JSON.parse((await streamToBuffer(entry as unknown as AsyncIterable<Uint8Array>, MAX_INDEX)).toString('utf8')) as { imageLayoutVersion?: string };
        if (layout.imageLayoutVersion !== '1.0.0') throw new ImportError(`oci-layout: unsupported imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}`);
        sawLayout = true;
        continue;
      }
      const size = entry.header.size ?? 0;
      if (name === 'index.json') {
        if (size > MAX_INDEX) throw new ImportError(`${file}: index.json is larger than ${MAX_INDEX} bytes`);
        index = await streamToBuffer(entry as unknown as AsyncIterable<Uint8Array>, MAX_INDEX);
        continue;
      }
      const blob = BLOB_PATH.exec(name);
      if (!blob) {
        await drain(entry);
        continue;
      }
      const digest = `sha256:${blob[1]}`;
      const scan = (scanner = new BlobScanner(`layer ${digest}`, limit));
      // Hashed only when containerd already had the blob and the bytes are merely drained: the scan must
      // then be of the blob's real bytes, not of whatever the archive put under its name.
      let verify: Hash | undefined;
      const scanned = (async function* () {
        for await (const c of entry as unknown as AsyncIterable<Uint8Array>) {
          const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
          verify?.update(b);
          await scan.push(b);
          yield b;
        }
      })();
      const res = await writeBlob(client, scanned, { ref: `tar-${name}`, total: size, expected: digest, namespace, lease });
      if (res.existed) {
        verify = createHash('sha256');
        let drained = 0;
        for await (const b of scanned) drained += b.length;
        if (drained > 0 && `sha256:${verify.digest('hex')}` !== digest) throw new ImportError(`${file}: ${name} does not match its digest`);
      }
      scans.set(digest, await scan.end());
      scanner = undefined;
    }
  } catch (e) {
    scanner?.dispose();
    source.destroy();
    // Our own refusals (a layer too large, a blob not matching its name) say exactly what is wrong.
    if (e instanceof ImportError || e instanceof DiskSpaceError) throw e;
    const reason = tarError ?? e;
    if (reason instanceof Error && /unexpected end|destroyed|premature/i.test(reason.message)) throw new ImportError(`${file}: archive is truncated (${reason.message})`);
    if (reason instanceof Error && /invalid tar|header/i.test(reason.message)) throw new ImportError(`${file}: not a valid tar archive (${reason.message})`);
    throw reason;
  }
  if (entries === 0) throw new ImportError(`${file}: not a tar archive or empty`);
  return { index, sawLayout, scans };
}

/** A small file of the archive into memory, refused past `max` bytes (its header's size is not trusted). */
async function streamToBuffer(stream: AsyncIterable<Uint8Array>, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > max) throw new ImportError(`archive member larger than ${max} bytes where a small JSON file was expected`);
    parts.push(Buffer.from(c));
  }
  return Buffer.concat(parts);
}
