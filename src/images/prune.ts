// `images prune`: delete content and snapshots that no image and no container uses — what GC keeps only
// because something roots it (a gc.root label, a leftover from an interrupted tool) or has not collected yet.
import type { ContainerdClient } from '../containerd/client.js';
import { isIndex, isManifest, type IndexJson, type ManifestJson } from '../containerd/image-manifest.js';
import { isNotFound } from '../containerd/errors.js';
import { DEFAULT_SNAPSHOTTER } from '../containerd/unpack.js';

export interface PruneResult {
  contentRemoved: number;
  snapshotsRemoved: number;
  bytesReclaimed: number;
}

/** Every blob reachable from the images (all platforms present), and the snapshots their configs name. */
async function usedByImages(client: ContainerdClient, namespace: string, snapshotter: string): Promise<{ blobs: Set<string>; snapshots: Set<string> }> {
  const blobs = new Set<string>();
  const snapshots = new Set<string>();
  const have = new Map((await client.listContent([], { namespace })).map((c) => [c.digest, c]));
  const walk = async (digest: string, mediaType: string, depth: number): Promise<void> => {
    if (blobs.has(digest) || depth > 6) return;
    blobs.add(digest);
    const info = have.get(digest);
    if (!info) return;
    // Snapshots referenced from content (config → unpacked chain).
    for (const [k, v] of Object.entries(info.labels)) if (k === `containerd.io/gc.ref.snapshot.${snapshotter}`) snapshots.add(v);
    if (!isIndex(mediaType) && !isManifest(mediaType)) return;
    let doc: Partial<IndexJson & ManifestJson>;
    try {
      doc = JSON.parse((await client.readContent(digest, { namespace })).toString('utf8')) as Partial<IndexJson & ManifestJson>;
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    for (const m of doc.manifests ?? []) await walk(m.digest, m.mediaType, depth + 1);
    if (doc.config) await walk(doc.config.digest, doc.config.mediaType, depth + 1);
    for (const l of doc.layers ?? []) blobs.add(l.digest);
  };
  for (const image of await client.listImages([], { namespace })) await walk(image.target.digest, image.target.media_type, 0);
  return { blobs, snapshots };
}

export async function pruneUnused(client: ContainerdClient, namespace: string, snapshotter = DEFAULT_SNAPSHOTTER): Promise<PruneResult> {
  const call = { namespace };
  const used = await usedByImages(client, namespace, snapshotter);
  for (const c of await client.listContainers([], call)) {
    if (c.snapshot_key && (c.snapshotter || snapshotter) === snapshotter) used.snapshots.add(c.snapshot_key);
  }

  // Snapshots: keep the used ones and all their ancestors; remove the rest leaves first.
  const all = await client.listSnapshots(snapshotter, [], call);
  const parent = new Map(all.map((s) => [s.name, s.parent]));
  const keep = new Set<string>();
  for (const name of used.snapshots) {
    for (let n: string | undefined = name; n && !keep.has(n); n = parent.get(n)) keep.add(n);
  }
  let doomed = all.filter((s) => !keep.has(s.name)).map((s) => s.name);
  let snapshotsRemoved = 0;
  // A snapshot with children cannot be removed: go round until no progress (children first).
  for (let progress = true; progress && doomed.length > 0; ) {
    progress = false;
    const hasChild = new Set(doomed.map((n) => parent.get(n)).filter((p): p is string => !!p));
    const leaves = doomed.filter((n) => !hasChild.has(n));
    for (const n of leaves) {
      try {
        await client.removeSnapshot(snapshotter, n, call);
        snapshotsRemoved++;
      } catch (e) {
        if (!isNotFound(e)) continue;
      }
      progress = true;
    }
    doomed = doomed.filter((n) => !leaves.includes(n));
  }

  let contentRemoved = 0;
  let bytesReclaimed = 0;
  for (const info of await client.listContent([], call)) {
    if (used.blobs.has(info.digest)) continue;
    try {
      await client.deleteContent(info.digest, call);
      contentRemoved++;
      bytesReclaimed += info.size;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  return { contentRemoved, snapshotsRemoved, bytesReclaimed };
}
