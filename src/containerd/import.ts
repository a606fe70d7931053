import { extract as tarExtract } from 'tar-stream';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import type { ContainerdClient } from './client.js';
import { isNotFound } from './errors.js';
import { writeBlob } from './content-writer.js';
import { withLease } from './lease.js';
import { ImageReader, MEDIA, isIndex, isManifest, type IndexJson, type ManifestJson, type JsonDescriptor, type Platform, DEFAULT_PLATFORM, selectManifest } from './image-manifest.js';
import { unpackImage, DEFAULT_SNAPSHOTTER } from './unpack.js';

export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

export interface ImportOptions {
  namespace: string;
  /** Name for the image when the archive has exactly one; overrides the annotations. */
  ref?: string;
  unpack?: boolean;
  snapshotter?: string;
  platform?: Platform;
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
 * no image record points at it, so storing it would leave garbage behind on every import.
 */
async function writeArchiveBlobs(client: ContainerdClient, file: string, namespace: string, lease: string): Promise<{ index: Buffer | undefined; sawLayout: boolean }> {
  const extract = tarExtract();
  let index: Buffer | undefined;
  let sawLayout = false;
  let entries = 0;
  // gzip-compressed archives are accepted too: sniff the magic bytes.
  const head = await new Promise<Buffer>((resolve, reject) => {
    const s = createReadStream(file, { start: 0, end: 1 });
    const parts: Buffer[] = [];
    s.on('data', (c) => parts.push(c as Buffer));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
  // Opened only after the sniff succeeded, and with an error listener of its own: a stream opened earlier
  // emitted ENOENT/EISDIR with no listener and took berthd down (chaos suite R4: Images.Import of a missing
  // path). With gzip, `pipe` does not forward the source's errors, hence the explicit handler.
  const source = createReadStream(file);
  source.on('error', (e: Error) => extract.destroy(e));
  const input = head[0] === 0x1f && head[1] === 0x8b ? source.pipe(createGunzip()) : source;
  input.on('error', (e: Error) => extract.destroy(e));
  // tar-stream reports a short archive on the extractor itself; entry streams only say "destroyed".
  let tarError: Error | undefined;
  extract.on('error', (e: Error) => (tarError = e));
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      entries++;
      const name = path.posix.normalize(entry.header.name).replace(/^(\.\/)+/, '').replace(/^\/+/, '');
      if (entry.header.type !== 'file') {
        await drain(entry);
        continue;
      }
      if (name === 'oci-layout') {
        const layout = JSON.parse((await streamToBuffer(entry as unknown as AsyncIterable<Uint8Array>)).toString('utf8')) as { imageLayoutVersion?: string };
        if (layout.imageLayoutVersion !== '1.0.0') throw new ImportError(`oci-layout: unsupported imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}`);
        sawLayout = true;
        continue;
      }
      const size = entry.header.size ?? 0;
      if (name === 'index.json') {
        if (size > MAX_INDEX) throw new ImportError(`${file}: index.json is larger than ${MAX_INDEX} bytes`);
        index = await streamToBuffer(entry as unknown as AsyncIterable<Uint8Array>);
        continue;
      }
      const blob = BLOB_PATH.exec(name);
      if (!blob) {
        await drain(entry);
        continue;
      }
      const res = await writeBlob(client, entry as unknown as AsyncIterable<Uint8Array>, { ref: `tar-${name}`, total: size, expected: `sha256:${blob[1]}`, namespace, lease });
      if (res.existed) await drain(entry);
    }
  } catch (e) {
    source.destroy();
    const reason = tarError ?? e;
    if (reason instanceof Error && /unexpected end|destroyed|premature/i.test(reason.message)) throw new ImportError(`${file}: archive is truncated (${reason.message})`);
    if (reason instanceof Error && /invalid tar|header/i.test(reason.message)) throw new ImportError(`${file}: not a valid tar archive (${reason.message})`);
    throw reason;
  }
  if (entries === 0) throw new ImportError(`${file}: not a tar archive or empty`);
  return { index, sawLayout };
}

async function streamToBuffer(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Set the GC child labels on a parent blob so the tree stays alive once the lease is gone (API facts §7.2). */
async function labelChildren(client: ContainerdClient, digest: string, labels: Record<string, string>, namespace: string, lease: string): Promise<void> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return;
  await client.updateContent({ digest, labels }, keys.map((k) => `labels.${k}`), { namespace, lease });
}

/**
 * Import an OCI image-layout tar (what `ctr images import` does), all under one lease: blobs with digest
 * checks, GC labels, image records, unpack. Any failure removes what this import added.
 */
export async function importArchive(client: ContainerdClient, file: string, opts: ImportOptions): Promise<ImportedImage[]> {
  const namespace = opts.namespace;
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  return withLease(client, namespace, async (lease) => {
    const call = { namespace, lease };
    const blobs = await writeArchiveBlobs(client, file, namespace, lease);
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

      const name = opts.ref ?? top.annotations?.['io.containerd.image.name'] ?? top.annotations?.['org.opencontainers.image.ref.name'];
      if (!name) throw new ImportError(`${file}: manifest ${top.digest} has no image name annotation; pass a reference`);
      let chainId = '';
      if (opts.unpack !== false) {
        const resolved = await reader.resolve({ media_type: desc.mediaType, digest: desc.digest, size: desc.size }, call, platform);
        chainId = (await unpackImage(client, resolved, { namespace, lease, snapshotter })).chainId;
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
      if (opts.ref && index.manifests.length > 1) throw new ImportError(`${file}: --ref needs an archive with exactly one image, found ${index.manifests.length}`);
    }
    return images;
  });
}
