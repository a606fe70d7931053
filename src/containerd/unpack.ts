import { randomBytes } from 'node:crypto';
import type { ContainerdClient } from './client.js';
import { isAlreadyExists, isNotFound } from './errors.js';
import { toProtoDescriptor, type ResolvedImage } from './image-manifest.js';

export const DEFAULT_SNAPSHOTTER = 'overlayfs';

export async function snapshotExists(client: ContainerdClient, snapshotter: string, key: string, namespace: string): Promise<boolean> {
  try {
    await client.statSnapshot(snapshotter, key, { namespace });
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/**
 * Unpack an image's layers into the snapshotter (Prepare → Diff.Apply → Commit per layer, API facts §7.3),
 * skipping layers whose chain id is already committed, then label the config so GC keeps the chain.
 * Layers are applied bottom up, each one as soon as `layerReady` says its blob is there.
 */
export async function unpackImage(
  client: ContainerdClient,
  image: ResolvedImage,
  opts: {
    namespace: string;
    lease: string;
    snapshotter?: string;
    /** Called with the indexes of the layers still to unpack, before any is: may refuse (disk space). */
    beforeApply?: (pending: number[]) => Promise<void>;
    /**
     * Resolves once layer `i`'s blob is in the content store (a pull still downloading the later ones):
     * each layer is applied as soon as it and every layer below it are there. Absent: all are present.
     */
    layerReady?: (i: number) => Promise<void>;
  },
): Promise<{ chainId: string; applied: number }> {
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const call = { namespace: opts.namespace, lease: opts.lease };
  let applied = 0;
  const pending: number[] = [];
  for (let i = 0; i < image.chainIds.length; i++) {
    if (!(await snapshotExists(client, snapshotter, image.chainIds[i]!, opts.namespace))) pending.push(i);
  }
  if (pending.length > 0) await opts.beforeApply?.(pending);
  for (const i of pending) {
    const chainId = image.chainIds[i]!;
    const parent = i === 0 ? '' : image.chainIds[i - 1]!;
    await opts.layerReady?.(i);
    const key = `extract-${Date.now()}-${randomBytes(3).toString('base64url')} ${chainId}`;
    const mounts = await client.prepareSnapshot(snapshotter, key, parent, {}, call);
    try {
      const layer = image.manifest.layers[i]!;
      const result = await client.applyDiff(toProtoDescriptor(layer), mounts, call);
      if (result.digest !== image.diffIds[i]) {
        throw new Error(`layer ${layer.digest}: uncompressed digest ${result.digest} does not match diff id ${image.diffIds[i]}`);
      }
      try {
        await client.commitSnapshot(snapshotter, chainId, key, {}, call);
      } catch (e) {
        if (!isAlreadyExists(e)) throw e; // a concurrent unpack won; ours is removed below
        await client.removeSnapshot(snapshotter, key, call).catch(() => undefined);
      }
      await client.updateContent({ digest: layer.digest, labels: { 'containerd.io/uncompressed': result.digest } }, ['labels.containerd.io/uncompressed'], call);
      applied++;
    } catch (e) {
      await client.removeSnapshot(snapshotter, key, call).catch(() => undefined);
      throw e;
    }
  }
  const top = image.chainIds[image.chainIds.length - 1];
  if (top) {
    const label = `containerd.io/gc.ref.snapshot.${snapshotter}`;
    await client.updateContent({ digest: image.configDigest, labels: { [label]: top } }, [`labels.${label}`], call);
  }
  return { chainId: top ?? '', applied };
}
