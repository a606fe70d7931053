import { extract as tarExtract } from 'tar-stream';
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import type { ContainerdClient } from './client.js';
import { isNotFound } from './errors.js';
import { linkBlob, writeBlob } from './content-writer.js';
import { withLease } from './lease.js';
import { ImageReader, MEDIA, isIndex, isManifest, type IndexJson, type ManifestJson, type JsonDescriptor, type Platform, DEFAULT_PLATFORM, selectManifest, type ResolvedImage } from './image-manifest.js';
import { unpackImage, DEFAULT_SNAPSHOTTER } from './unpack.js';
import { ImportError, openArchive } from './archive-file.js';
import { BlobScanner, type ScanResult } from './layer-scan.js';
import { containerdRoots, humanSize, requireSpace, DiskSpaceError, type ContainerdRoots } from '../images/disk-space.js';

export { ImportError } from './archive-file.js';

/** Default of `images.max-unpacked-size`: the largest unpacked size of one layer. */
export const DEFAULT_MAX_UNPACKED_SIZE = 8 * 1024 ** 3;
/** Label on a layer blob: its measured unpacked size, so a later unpack (another namespace) can check space. */
export const UNPACKED_SIZE_LABEL = 'berth.unpacked-size';

export interface ImportOptions {
  namespace: string;
  /** Name for the image when the archive has exactly one; overrides the annotations. */
  ref?: string;
  unpack?: boolean;
  snapshotter?: string;
  platform?: Platform;
  /** Largest unpacked size of one layer (`images.max-unpacked-size`); DEFAULT_MAX_UNPACKED_SIZE if unset. */
  maxUnpackedSize?: number;
}
export interface ImportedImage {
  name: string;
  target: JsonDescriptor;
  chainId: string;
}

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
async function writeArchiveBlobs(client: ContainerdClient, fh: FileHandle, file: string, namespace: string, lease: string, limit: number): Promise<{ index: Buffer | undefined; sawLayout: boolean; scans: Map<string, ScanResult> }> {
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

/** Set the GC child labels on a parent blob so the tree stays alive once the lease is gone (API facts §7.2). */
async function labelChildren(client: ContainerdClient, digest: string, labels: Record<string, string>, namespace: string, lease: string): Promise<void> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return;
  await client.updateContent({ digest, labels }, keys.map((k) => `labels.${k}`), { namespace, lease });
}

/** Layer media types containerd 1.6 unpacks and berth can measure (gzip or none; zstd is refused). */
const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);

/**
 * Where containerd keeps content and snapshots, asked once per containerd socket. Unknown (an
 * Introspection failure) means no free-space check, not a failed import: the per-layer limit still holds.
 */
const rootsBySocket = new Map<string, Promise<ContainerdRoots>>();
async function rootsOf(client: ContainerdClient): Promise<ContainerdRoots> {
  let p = rootsBySocket.get(client.socketPath);
  if (!p) {
    p = containerdRoots(client);
    rootsBySocket.set(client.socketPath, p);
    p.catch(() => rootsBySocket.delete(client.socketPath));
  }
  return p.catch(() => ({ snapshotters: new Map<string, string>() }));
}

/** The measured unpacked size of a stored layer blob: its label, else a scan of its bytes in the store. */
async function storedUnpackedSize(client: ContainerdClient, layer: JsonDescriptor, limit: number, call: { namespace: string; lease?: string }): Promise<ScanResult> {
  const info = await client.contentInfo(layer.digest, call);
  const labelled = Number(info.labels[UNPACKED_SIZE_LABEL]);
  if (Number.isSafeInteger(labelled) && labelled > 0) return { kind: 'tar', streamBytes: labelled, declaredBytes: labelled, unpackedSize: labelled };
  const scan = new BlobScanner(`layer ${layer.digest}`, limit);
  try {
    for await (const part of client.serverStream<{ data: Buffer }>('content', 'Read', { digest: layer.digest, offset: 0, size: 0 }, call)) await scan.push(Buffer.from(part.data));
    return await scan.end();
  } finally {
    scan.dispose();
  }
}

/**
 * Check every layer of `manifest` before anything is unpacked: a media type berth can measure, a
 * well-formed (gzip'ed) tar, at most `limit` once unpacked. Returns digest → unpacked size.
 */
async function checkLayers(client: ContainerdClient, manifest: ManifestJson, scans: Map<string, ScanResult>, limit: number, file: string, call: { namespace: string; lease: string }): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const layer of manifest.layers) {
    if (!LAYER_TYPES.has(layer.mediaType)) {
      const why = /zstd/.test(layer.mediaType) ? ': its unpacked size cannot be measured before unpacking (Node 20 has no zstd), recompress it with gzip' : '';
      throw new ImportError(`${file}: layer ${layer.digest} has media type ${layer.mediaType}, which berth does not import${why}`);
    }
    const scan = scans.get(layer.digest) ?? (await storedUnpackedSize(client, layer, limit, call));
    if (scan.problem) throw new ImportError(`${file}: layer ${layer.digest} is not a valid layer: ${scan.problem}`);
    if (scan.unpackedSize > limit) throw new ImportError(`images import: layer ${layer.digest} unpacks to ${humanSize(scan.unpackedSize)}, more than images.max-unpacked-size (${humanSize(limit)})`);
    sizes.set(layer.digest, scan.unpackedSize);
    await client.updateContent({ digest: layer.digest, labels: { [UNPACKED_SIZE_LABEL]: String(scan.unpackedSize) } }, [`labels.${UNPACKED_SIZE_LABEL}`], call);
  }
  return sizes;
}

/**
 * A `beforeApply` for unpackImage: the layers still to unpack must fit on the snapshotter's filesystem
 * with the reserve left free. Sizes come from the layers' labels (set at import).
 */
export function unpackSpaceCheck(client: ContainerdClient, image: ResolvedImage, snapshotter: string, call: { namespace: string; lease?: string }, known?: Map<string, number>): (pending: number[]) => Promise<void> {
  return async (pending) => {
    const dir = (await rootsOf(client)).snapshotters.get(snapshotter);
    if (!dir) return;
    let need = 0;
    for (const i of pending) {
      const layer = image.manifest.layers[i]!;
      let size = known?.get(layer.digest);
      if (size === undefined) {
        const info = await client.contentInfo(layer.digest, call);
        const labelled = Number(info.labels[UNPACKED_SIZE_LABEL]);
        // Not imported by berth (a pull): the compressed size is the only figure there is.
        size = Number.isSafeInteger(labelled) && labelled > 0 ? labelled : layer.size;
      }
      need += size;
    }
    await requireSpace(need, dir, `unpacking ${pending.length} layer(s) (${humanSize(need)})`);
  };
}

/**
 * Imports run one at a time in a berthd: a free-space check means something only if no other import is
 * writing at the same time, and at most one thread of libuv's pool is then ever reading an archive.
 */
let importQueue: Promise<unknown> = Promise.resolve();

/**
 * Import an OCI image-layout tar (what `ctr images import` does), all under one lease: blobs with digest
 * checks, GC labels, image records, unpack. Any failure removes what this import added. Only a regular file
 * is read (archive-file.ts); each layer is measured while it streams and refused past
 * `opts.maxUnpackedSize`; the archive must fit in the content store's free space and the layers in the
 * snapshotter's, each minus a reserve (images/disk-space.ts), before they are written / unpacked.
 */
export function importArchive(client: ContainerdClient, file: string, opts: ImportOptions): Promise<ImportedImage[]> {
  const run = importQueue.then(() => importArchiveNow(client, file, opts));
  importQueue = run.catch(() => undefined);
  return run;
}

async function importArchiveNow(client: ContainerdClient, file: string, opts: ImportOptions): Promise<ImportedImage[]> {
  const namespace = opts.namespace;
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const limit = opts.maxUnpackedSize ?? DEFAULT_MAX_UNPACKED_SIZE;
  const { fh, size: archiveSize } = await openArchive(file);
  try {
    const roots = await rootsOf(client);
    // The blobs take at most the archive's size in the content store (less if compressed as a whole).
    if (roots.content) await requireSpace(archiveSize, roots.content, `the archive (${humanSize(archiveSize)} of blobs)`);
    return await withLease(client, namespace, async (lease) => {
      const call = { namespace, lease };
      const blobs = await writeArchiveBlobs(client, fh, file, namespace, lease, limit);
      return finishImport(client, file, opts, blobs, { namespace, lease, snapshotter, platform, limit, call });
    });
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function finishImport(
  client: ContainerdClient,
  file: string,
  opts: ImportOptions,
  blobs: { index: Buffer | undefined; sawLayout: boolean; scans: Map<string, ScanResult> },
  c: { namespace: string; lease: string; snapshotter: string; platform: Platform; limit: number; call: { namespace: string; lease: string } },
): Promise<ImportedImage[]> {
  const { namespace, lease, snapshotter, platform, call } = c;
  if (!blobs.sawLayout) throw new ImportError(`${file}: no oci-layout file: not an OCI image layout archive`);
  if (!blobs.index) throw new ImportError(`${file}: no index.json in the archive`);
  const reader = new ImageReader(client);
  let index: IndexJson;
  try {
    index = JSON.parse(blobs.index.toString('utf8')) as IndexJson;
  } catch {
    throw new ImportError(`${file}: index.json is not valid JSON`);
  }
  if (!Array.isArray(index.manifests) || index.manifests.length === 0) throw new ImportError(`${file}: index.json lists no manifests`);
  if (opts.ref && index.manifests.length > 1) throw new ImportError(`${file}: --ref needs an archive with exactly one image, found ${index.manifests.length}`);

  const images: ImportedImage[] = [];
  for (const top of index.manifests) {
    // Walk down to the platform's manifest, labelling every parent → child edge for GC.
    let desc: JsonDescriptor = top;
    for (let depth = 0; isIndex(desc.mediaType); depth++) {
      if (depth > 4) throw new ImportError(`${desc.digest}: index nesting too deep`);
      const child = await reader.readJson<IndexJson>(desc.digest, call);
      const chosen = selectManifest(child, platform);
      if (!chosen) throw new ImportError(`${desc.digest}: no manifest for ${platform.os}/${platform.architecture}`);
      await labelChildren(client, desc.digest, { 'containerd.io/gc.ref.content.m.0': chosen.digest }, namespace, lease);
      desc = chosen;
    }
    if (!isManifest(desc.mediaType)) throw new ImportError(`${desc.digest}: unsupported media type ${desc.mediaType}`);
    let manifest: ManifestJson;
    try {
      manifest = await reader.readJson<ManifestJson>(desc.digest, call);
    } catch (e) {
      if (isNotFound(e)) throw new ImportError(`${file}: manifest ${desc.digest} is missing from the archive`);
      throw e;
    }
    if (!manifest.config || !Array.isArray(manifest.layers)) throw new ImportError(`${desc.digest}: not an image manifest`);
    const labels: Record<string, string> = { 'containerd.io/gc.ref.content.config': manifest.config.digest };
    manifest.layers.forEach((l, i) => (labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
    await labelChildren(client, desc.digest, labels, namespace, lease);
    for (const needed of [manifest.config, ...manifest.layers]) {
      await client.contentInfo(needed.digest, call).catch((e: unknown) => {
        if (isNotFound(e)) throw new ImportError(`${file}: blob ${needed.digest} is missing from the archive`);
        throw e;
      });
    }
    const sizes = await checkLayers(client, manifest, blobs.scans, c.limit, file, call);

    const name = opts.ref ?? top.annotations?.['io.containerd.image.name'] ?? top.annotations?.['org.opencontainers.image.ref.name'];
    if (!name) throw new ImportError(`${file}: manifest ${top.digest} has no image name annotation; pass a reference`);
    let chainId = '';
    if (opts.unpack !== false) {
      const resolved = await reader.resolve({ media_type: desc.mediaType, digest: desc.digest, size: desc.size }, call, platform);
      chainId = (await unpackImage(client, resolved, { namespace, lease, snapshotter, beforeApply: unpackSpaceCheck(client, resolved, snapshotter, call, sizes) })).chainId;
    }
    const record = { name, labels: {}, target: { media_type: top.mediaType || MEDIA.ociManifest, digest: top.digest, size: top.size, annotations: {} } };
    try {
      const existing = await client.getImage(name, call);
      if (existing.target.digest !== top.digest) await client.updateImage(record, ['target'], call);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await client.createImage(record, call);
    }
    images.push({ name, target: top, chainId });
  }
  return images;
}

/** Label keys worth carrying to another namespace: GC references to content, and berth's size label. */
const carried = (k: string): boolean => k.startsWith('containerd.io/gc.ref.content') || k === UNPACKED_SIZE_LABEL || k === 'containerd.io/uncompressed';

/**
 * Make images of namespace `from` usable in namespace `to` without reading any archive again or unpacking:
 * each blob reachable from the image (through the GC labels an import or pull set) is linked into `to`
 * (linkBlob: the bytes on disk are shared, only metadata is added) with its content references, then the
 * image record is created. Snapshots are per namespace in containerd 1.6 (a committed chain in one namespace
 * is not visible from another), so `to` unpacks the image itself, lazily, the first time something there
 * runs it (ImageService.ensure). All under one lease: a failure leaves nothing in `to`.
 */
export async function linkImages(client: ContainerdClient, from: string, to: string, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await withLease(client, to, async (lease) => {
    const dst = { namespace: to, lease };
    for (const name of names) {
      const image = await client.getImage(name, { namespace: from });
      const seen = new Set<string>();
      const queue = [image.target.digest];
      while (queue.length > 0) {
        const digest = queue.shift()!;
        if (seen.has(digest)) continue;
        seen.add(digest);
        if (seen.size > 10_000) throw new ImportError(`image ${name}: more than 10000 blobs`);
        const info = await client.contentInfo(digest, { namespace: from });
        const labels = Object.fromEntries(Object.entries(info.labels).filter(([k]) => carried(k)));
        for (const [k, v] of Object.entries(labels)) if (k.startsWith('containerd.io/gc.ref.content')) queue.push(v);
        if (!(await linkBlob(client, digest, info.size, labels, dst))) throw new ImportError(`image ${name}: blob ${digest} vanished from the content store`);
      }
      const record = { name: image.name, labels: image.labels, target: image.target };
      try {
        const existing = await client.getImage(name, dst);
        if (existing.target.digest !== image.target.digest) await client.updateImage(record, ['target'], dst);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        await client.createImage(record, dst);
      }
    }
  });
}
