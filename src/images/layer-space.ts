// Layers measured before they are unpacked: a media type berth can measure, a size within
// images.max-unpacked-size, and room for them on the snapshotter's filesystem (disk-space.ts).
import type { ContainerdClient } from '../containerd/client.js';
import type { JsonDescriptor, ManifestJson, ResolvedImage } from '../containerd/image-manifest.js';
import { ImportError } from '../containerd/archive-file.js';
import { BlobScanner, type ScanResult } from '../containerd/layer-scan.js';
import { containerdRoots, humanSize, requireSpace, type ContainerdRoots } from './disk-space.js';

/** Default of `images.max-unpacked-size`: the largest unpacked size of one layer. */
export const DEFAULT_MAX_UNPACKED_SIZE = 8 * 1024 ** 3;
/** Label on a layer blob: its measured unpacked size, so a later unpack (another namespace) can check space. */
export const UNPACKED_SIZE_LABEL = 'berth.unpacked-size';

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
export async function rootsOf(client: ContainerdClient): Promise<ContainerdRoots> {
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
export async function checkLayers(client: ContainerdClient, manifest: ManifestJson, scans: Map<string, ScanResult>, limit: number, file: string, call: { namespace: string; lease: string }): Promise<Map<string, number>> {
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
