// Pull an image from a registry the way containerd's Go client does, client-side: resolve, walk the index
// down to the platform's manifest, fetch config and layers (several at once) into the content store with GC
// labels, unpack into the snapshotter, then create the image record — all under one lease, so a failed pull
// leaves nothing behind (API facts §6, §7.2, §7.3).
import type { ContainerdClient } from '../containerd/client.js';
import { isNotFound } from '../containerd/errors.js';
import {
  chainIds, DEFAULT_PLATFORM, isIndex, isManifest, selectManifest,
  type ImageConfigJson, type IndexJson, type JsonDescriptor, type ManifestJson, type Platform, type ResolvedImage,
} from '../containerd/image-manifest.js';
import { withLease } from '../containerd/lease.js';
import { DEFAULT_SNAPSHOTTER, unpackImage } from '../containerd/unpack.js';
import { copyBlob, fetchSmallBlob, storeBytes, verify, type BlobCopy } from './pull-blobs.js';
import { ProgressTracker, type PullProgress } from './pull-progress.js';
import { MAX_MANIFEST, RegistryClient } from './registry/client.js';
import type { RegistryConfig } from './registry/config.js';
import { invalid } from './registry/errors.js';
import { parseReference } from './registry/reference.js';
import type { RetryOptions } from './registry/retry.js';
import { PullWatch } from './registry/watch.js';

export interface PullOptions {
  namespace: string;
  registry: RegistryConfig;
  platform?: Platform;
  snapshotter?: string;
  /** Layers downloaded at once. */
  concurrency?: number;
  onProgress?: (p: PullProgress) => void;
  /** Cancels the pull: its requests are aborted and their connections closed. */
  signal?: AbortSignal;
  retry?: Partial<RetryOptions>;
  /** Overall deadline (images.pull-timeout); default 30 min. */
  timeoutMs?: number;
  /** Give up when the registry sends under 1 KiB for this long (images.pull-stall-timeout); default 30 s. */
  stallTimeoutMs?: number;
}

export interface PulledImage {
  /** The normalised reference: the image record's name. */
  name: string;
  /** What the reference resolved to (index or manifest). */
  target: JsonDescriptor;
  manifestDigest: string;
  config: ImageConfigJson;
  /** Top chain id: the parent of a container rootfs. */
  chainId: string;
  /** Compressed bytes of config and layers. */
  size: number;
}

const MAX_CONFIG = 8 << 20;
const MAX_DEPTH = 4;
/**
 * Sizes in manifests are the registry's claims, and they become limits (every blob is cut off at its size),
 * so they are bounded first: a descriptor claiming 1e15 bytes is refused before anything is downloaded.
 */
export const MAX_LAYER_SIZE = 32 * 2 ** 30;
/** Config plus layers, compressed: far above any host or workload image, far below filling a disk by accident. */
export const MAX_IMAGE_SIZE = 64 * 2 ** 30;
const MAX_LAYERS = 1000;
/** The only digest berth verifies (and so the only one that may go into a URL path). */
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** A descriptor from the registry, checked before it is used: a sha256 digest and a sane, bounded size. */
function checkDescriptor(ref: string, desc: JsonDescriptor, what: string, max: number): void {
  if (typeof desc !== 'object' || desc === null || typeof desc.digest !== 'string' || !DIGEST.test(desc.digest)) {
    throw invalid(`${ref}: ${what} has an invalid digest ${JSON.stringify((desc as Partial<JsonDescriptor> | null)?.digest ?? null)}`);
  }
  if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0) throw invalid(`${ref}: ${what} ${desc.digest} has an invalid size ${JSON.stringify(desc.size)}`);
  if (desc.size > max) throw invalid(`${ref}: ${what} ${desc.digest} claims ${desc.size} bytes, over the ${max}-byte limit`);
}

/** Run `fn` over `items` with at most `limit` running at once; the first failure rejects (others finish). */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/** A promise settled from outside, once: later calls are no-ops, and an unawaited rejection is not reported. */
function settleable(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw invalid(`${what} is not valid JSON`);
  }
}

/** Media type from the descriptor, else from the document itself (some registries send a generic type). */
function mediaTypeOf(desc: JsonDescriptor, doc: { mediaType?: string; manifests?: unknown; layers?: unknown }): string {
  if (isIndex(desc.mediaType) || isManifest(desc.mediaType)) return desc.mediaType;
  if (doc.mediaType) return doc.mediaType;
  return Array.isArray(doc.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
}

export async function pullImage(client: ContainerdClient, reference: string, opts: PullOptions): Promise<PulledImage> {
  const ref = parseReference(reference);
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const namespace = opts.namespace;
  const progress = new ProgressTracker(ref.name, opts.onProgress);
  const watch = new PullWatch({
    ref: ref.name,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.stallTimeoutMs !== undefined ? { stallTimeoutMs: opts.stallTimeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const signal = watch.signal;
  const registry = new RegistryClient(opts.registry, {
    ...(opts.retry ? { retry: opts.retry } : {}),
    signal,
    meter: watch,
    onRetry: (m) => progress.note(m),
  });
  try {
    return await withLease(client, namespace, async (lease) => {
      const copy: BlobCopy = { containerd: client, registry, ref, namespace, lease, source: ref.domain };
      const call = { namespace, lease };
      const target = await registry.resolve(ref);
      checkDescriptor(ref.name, target, 'manifest', MAX_MANIFEST);
      if (ref.digest && target.digest !== ref.digest) throw invalid(`${ref.name}: registry ${ref.domain} resolved the digest to ${target.digest}`);

      // Walk index → manifest, storing each level with labels that keep its children alive.
      let desc: JsonDescriptor = target;
      let manifest: ManifestJson | undefined;
      for (let depth = 0; !manifest; depth++) {
        if (depth > MAX_DEPTH) throw invalid(`${ref.name}: index nesting too deep`);
        const bytes = await registry.manifest(ref, desc);
        verify(copy, desc, bytes, 'manifest');
        const doc = parseJson<IndexJson & ManifestJson>(bytes, `${ref.name}: manifest ${desc.digest}`);
        const mediaType = mediaTypeOf(desc, doc);
        desc = { ...desc, mediaType };
        if (isIndex(mediaType)) {
          if (!Array.isArray(doc.manifests)) throw invalid(`${ref.name}: index ${desc.digest} lists no manifests`);
          const chosen = selectManifest(doc, platform);
          if (!chosen) throw invalid(`${ref.name}: no manifest for ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''} in index ${desc.digest}`);
          checkDescriptor(ref.name, chosen, 'manifest', MAX_MANIFEST);
          // As the Go client: label every child, also platforms not downloaded (labels to absent blobs are harmless).
          const labels = Object.fromEntries(doc.manifests.map((m, i) => [`containerd.io/gc.ref.content.m.${i}`, m.digest]));
          await storeBytes(copy, desc, bytes, 'index', labels);
          desc = chosen;
        } else if (isManifest(mediaType)) {
          if (!doc.config || !Array.isArray(doc.layers)) throw invalid(`${ref.name}: ${desc.digest} is not an image manifest`);
          checkDescriptor(ref.name, doc.config, 'config', MAX_CONFIG);
          if (doc.layers.length > MAX_LAYERS) throw invalid(`${ref.name}: manifest ${desc.digest} lists ${doc.layers.length} layers, over the limit of ${MAX_LAYERS}`);
          let total = doc.config.size;
          for (const l of doc.layers) {
            checkDescriptor(ref.name, l, 'layer', MAX_LAYER_SIZE);
            total += l.size;
          }
          if (total > MAX_IMAGE_SIZE) throw invalid(`${ref.name}: manifest ${desc.digest} claims ${total} bytes of config and layers, over the ${MAX_IMAGE_SIZE}-byte limit`);
          const labels: Record<string, string> = { 'containerd.io/gc.ref.content.config': doc.config.digest };
          doc.layers.forEach((l, i) => (labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest));
          await storeBytes(copy, desc, bytes, 'manifest', labels);
          manifest = doc;
        } else {
          throw invalid(`${ref.name}: unsupported manifest media type ${mediaType}`);
        }
      }

      const configBytes = await fetchSmallBlob(copy, manifest.config, MAX_CONFIG);
      await storeBytes(copy, manifest.config, configBytes, 'config');
      const config = parseJson<ImageConfigJson>(configBytes, `${ref.name}: config ${manifest.config.digest}`);
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== manifest.layers.length) throw invalid(`${ref.name}: config lists ${diffIds.length} diff ids for ${manifest.layers.length} layers`);

      // Layers download several at once and unpack bottom up as each arrives, as containerd 1.7's
      // unpacker does: the pull then costs the slower of the two, not their sum.
      progress.setLayers(manifest.layers);
      const resolved: ResolvedImage = { manifestDigest: desc.digest, manifest, configDigest: manifest.config.digest, config, diffIds, chainIds: chainIds(diffIds) };
      const arrived = manifest.layers.map(() => settleable());
      let fetchFailed = false;
      let unpacked = false;
      const fetching = eachLimited(manifest.layers.map((layer, i) => ({ layer, i })), opts.concurrency ?? 3, async ({ layer, i }) => {
        await copyBlob(copy, layer, 'layer', (n) => progress.layerBytes(layer.digest, n)).catch((e: unknown) => {
          fetchFailed = true;
          arrived[i]!.reject(e);
          throw e;
        });
        progress.layerDone(layer.digest);
        arrived[i]!.resolve();
      }).finally(() => {
        // A failed fetch stops taking layers: the unpack must not wait for one that will never come.
        for (const a of arrived) a.reject(new Error('layer not fetched'));
        // Unpacking is containerd's work: no bytes from the registry is normal now (the deadline still runs).
        watch.setNetwork(false);
        if (!unpacked) progress.note('', 'unpacking');
      });
      const unpacking = unpackImage(client, resolved, { namespace, lease, snapshotter, layerReady: (i) => arrived[i]!.promise })
        .finally(() => (unpacked = true))
        .catch((e: unknown) => {
          // A layer that does not unpack ends the pull: the downloads still running are cut off. (When a
          // download failed, the unpack only relays that failure, which is the one to report.)
          if (!fetchFailed) watch.abort(e);
          throw e;
        });
      const [fetched, unpack] = await Promise.allSettled([fetching, unpacking]);
      if (fetched.status === 'rejected') throw fetched.reason;
      if (unpack.status === 'rejected') throw unpack.reason;
      const { chainId } = unpack.value;

      signal.throwIfAborted();
      const record = { name: ref.name, labels: {}, target: { media_type: target.mediaType, digest: target.digest, size: target.size, annotations: {} } };
      try {
        await client.getImage(ref.name, call);
        await client.updateImage(record, ['target'], call);
      } catch (e) {
        if (!isNotFound(e)) throw e;
        await client.createImage(record, call);
      }
      const size = manifest.layers.reduce((n, l) => n + l.size, manifest.config.size);
      progress.note(target.digest, 'done');
      return { name: ref.name, target, manifestDigest: desc.digest, config, chainId, size };
    });
  } catch (e) {
    throw watch.explain(e);
  } finally {
    watch.close();
    registry.close();
  }
}
