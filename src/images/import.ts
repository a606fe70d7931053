// Image import from an OCI layout archive (`berthctl images import`), and linking imported images into
// another namespace. The archive's blobs are streamed in by import-blobs.ts; layers are measured and checked
// against the free space by layer-space.ts.
import type { ContainerdClient } from '../containerd/client.js';
import { isNotFound } from '../containerd/errors.js';
import { linkBlob } from '../containerd/content-writer.js';
import { withLease } from '../containerd/lease.js';
import { ImageReader, MEDIA, isIndex, isManifest, type IndexJson, type ManifestJson, type JsonDescriptor, type Platform, DEFAULT_PLATFORM, selectManifest } from '../containerd/image-manifest.js';
import { unpackImage, DEFAULT_SNAPSHOTTER } from '../containerd/unpack.js';
import { ImportError, openArchive } from '../containerd/archive-file.js';
import type { ScanResult } from '../containerd/layer-scan.js';
import { humanSize, requireSpace } from './disk-space.js';
import { writeArchiveBlobs } from './import-blobs.js';
import { checkLayers, DEFAULT_MAX_UNPACKED_SIZE, rootsOf, UNPACKED_SIZE_LABEL, unpackSpaceCheck } from './layer-space.js';

export { ImportError } from '../containerd/archive-file.js';
export { DEFAULT_MAX_UNPACKED_SIZE, UNPACKED_SIZE_LABEL, unpackSpaceCheck };

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

/** Set the GC child labels on a parent blob so the tree stays alive once the lease is gone (API facts §7.2). */
async function labelChildren(client: ContainerdClient, digest: string, labels: Record<string, string>, namespace: string, lease: string): Promise<void> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return;
  await client.updateContent({ digest, labels }, keys.map((k) => `labels.${k}`), { namespace, lease });
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
