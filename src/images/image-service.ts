import type { ContainerdClient } from '../containerd/client.js';
import { isAlreadyExists, isNotFound } from '../containerd/errors.js';
import { ImageReader, type ImageConfigJson } from '../containerd/image-manifest.js';
import { DEFAULT_SNAPSHOTTER, snapshotExists } from '../containerd/unpack.js';
import { isBuiltinImage } from './builtin-refs.js';
import type { ImageConfig } from '../ocispec/types.js';
import type { PolicySettings } from '../settings/index.js';
import type { PullProgress } from './pull-progress.js';
import type { PruneResult } from './prune.js';
import { parseReference } from './registry/reference.js';
import { SharedTasks } from '../util/shared-task.js';

/**
 * An image berth's store (this containerd namespace) does not hold and no registry will give: named with
 * the command that puts it there, since a locally built image is the usual reason.
 */
export class ImageMissingError extends Error {
  /** gRPC NOT_FOUND, for the API's error mapping. */
  readonly code = 5;
  constructor(readonly ref: string, why?: string) {
    super(`image ${ref} is not in berth's image store${why ? ` (${why})` : ''}; import it with \`berthctl images import FILE --ref ${ref}\``);
    this.name = 'ImageMissingError';
  }
}

/** `localhost/app:1`: a name for an imported image, not a registry (the registry would be https://localhost). */
export function isLocalOnlyRef(ref: string): boolean {
  try {
    return parseReference(ref).domain === 'localhost';
  } catch {
    return false;
  }
}

/** `app:1`, `team/app`: written without a registry host, so a pull goes to Docker Hub only by default. */
export function hasNoRegistryHost(ref: string): boolean {
  const first = ref.split('/')[0] ?? '';
  return !ref.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost');
}

export interface EnsuredImage {
  config: ImageConfig;
  /** The image's top chain id: the parent of a container's rootfs snapshot. */
  snapshotParent: string;
  /** The image record's target digest: exactly the bytes a container made from it runs. */
  digest?: string;
}

export function toImageConfig(c: ImageConfigJson): ImageConfig {
  const cfg = c.config ?? {};
  return {
    env: cfg.Env ?? [],
    entrypoint: cfg.Entrypoint ?? [],
    cmd: cfg.Cmd ?? [],
    workingDir: cfg.WorkingDir ?? '',
    user: cfg.User ?? '',
    stopSignal: cfg.StopSignal,
  };
}

/**
 * Images for units: present and unpacked means no network and no import; built-in images (admin,
 * control) are built from busybox-static and imported the first time they are needed.
 */
export class ImageService {
  private readonly reader: ImageReader;
  /** Many units starting from one image share one check/import/pull. */
  private readonly inflight = new SharedTasks<EnsuredImage>();
  /** Images known present and unpacked: starting a unit then costs no image RPC at all. */
  private readonly known = new Map<string, EnsuredImage>();

  /** Pulls, imports and prunes in flight: prune waits for them so it never deletes what a pull just wrote. */
  private readonly busy = new Set<Promise<unknown>>();
  private pruning: Promise<unknown> | undefined;

  /**
   * `policy` gives the registry settings and pull policy; without it (tests, tools) registries are reached
   * with defaults and images are pulled only when missing.
   */
  constructor(private readonly client: ContainerdClient, readonly namespace: string, private readonly cacheDir: string, private readonly policy?: () => PolicySettings) {
    this.reader = new ImageReader(client);
  }

  /**
   * The image for a unit, pulled if needed. With pull policy `if-not-present` a present, unpacked image
   * costs no network at all; with `always` the registry is asked on every call. `onProgress` gets one-line
   * messages (`pulling REF: 1/3 layers, …`) while a pull runs.
   *
   * `signal` is this caller's interest (a unit being stopped aborts it): the caller's promise rejects at
   * once, and the shared pull itself — its HTTP connections — is cancelled only when no other caller is
   * still waiting for the same image.
   */
  ensure(ref: string, onProgress?: (message: string) => void, signal?: AbortSignal): Promise<EnsuredImage> {
    const always = this.pullPolicy() === 'always' && !isBuiltinImage(ref);
    const known = always ? undefined : this.known.get(ref);
    if (known) return Promise.resolve(known);
    return this.inflight.run(ref, `pull of ${ref}`, async ({ signal: shared, progress }) => {
      const r = await this.ensureOnce(ref, always, progress, shared);
      this.known.set(ref, r);
      return r;
    }, onProgress, signal);
  }

  forget(ref: string): void {
    this.known.delete(ref);
  }

  /** Whether `container-registry.*` settings point `domain` somewhere (a mirror, or marked insecure). */
  private hasRegistryFor(domain: string): boolean {
    const registry = this.policy?.().containerRegistry;
    return registry !== undefined && (registry.mirrors.has(domain) || registry.insecure.get(domain) === true);
  }

  private pullPolicy(): 'if-not-present' | 'always' {
    return this.policy?.().images.pullPolicy ?? 'if-not-present';
  }

  /** Names an image may be recorded under: as written, and normalised (`busybox` → `docker.io/library/busybox:latest`). */
  private static names(ref: string): string[] {
    try {
      const normal = parseReference(ref).name;
      return normal === ref ? [ref] : [ref, normal];
    } catch {
      return [ref];
    }
  }

  private async present(ref: string): Promise<EnsuredImage | undefined> {
    for (const name of ImageService.names(ref)) {
      const found = await this.presentAs(name);
      if (found) return found;
    }
    return undefined;
  }

  private async presentAs(ref: string): Promise<EnsuredImage | undefined> {
    const call = { namespace: this.namespace };
    try {
      const image = await this.client.getImage(ref, call);
      const resolved = await this.reader.resolve(image.target, call);
      const top = resolved.chainIds[resolved.chainIds.length - 1] ?? '';
      if (!top || (await snapshotExists(this.client, DEFAULT_SNAPSHOTTER, top, this.namespace))) return { config: toImageConfig(resolved.config), snapshotParent: top, digest: image.target.digest };
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return undefined;
  }

  private async ensureOnce(ref: string, always: boolean, onProgress: (message: string) => void, signal: AbortSignal): Promise<EnsuredImage> {
    if (!always) {
      const found = await this.present(ref);
      if (found) return found;
    }
    if (isBuiltinImage(ref)) {
      // Loaded only when needed: the archive builder and tar code are not part of an idle berthd.
      const { builtinArchive } = await import('./builtin.js');
      const { importArchive } = await import('./import.js');
      const archive = await builtinArchive(ref, this.cacheDir);
      await this.tracked(() => importArchive(this.client, archive!, { namespace: this.namespace, ref }));
    } else {
      // Present but not unpacked here (linked from the host namespace by an import, or its snapshots
      // pruned): unpack from local content rather than ask a registry that may not even have it.
      const local = always ? undefined : await this.unpackLocal(ref);
      if (local) return local;
      if (isLocalOnlyRef(ref) && !this.hasRegistryFor('localhost')) throw new ImageMissingError(ref, 'localhost is not a registry berth pulls from');
      const { progressLine } = await import('./pull-progress.js');
      try {
        const pulled = await this.pull(ref, (p) => onProgress(progressLine(p)), signal);
        return { config: toImageConfig(pulled.config), snapshotParent: pulled.chainId, digest: pulled.digest };
      } catch (e) {
        // `app:1` the registry does not know (Docker Hub answers 401 for a repository that does not exist)
        // is most often an image built on this host and not imported yet: say so beside the registry's answer.
        const { RegistryError } = await import('./registry/errors.js');
        if (hasNoRegistryHost(ref) && e instanceof RegistryError && (e.code === 5 || e.code === 16)) throw new ImageMissingError(ref, `the registry says: ${e.message}`);
        throw e;
      }
    }
    const imported = await this.present(ref);
    if (!imported) throw new ImageMissingError(ref);
    return imported;
  }

  /** Unpack an image whose record and content are in this namespace; undefined if they are not. */
  private async unpackLocal(ref: string): Promise<EnsuredImage | undefined> {
    const [{ unpackSpaceCheck }, { unpackImage }, { withLease }] = await Promise.all([import('./import.js'), import('../containerd/unpack.js'), import('../containerd/lease.js')]);
    for (const name of ImageService.names(ref)) {
      const call = { namespace: this.namespace };
      let resolved;
      let digest: string;
      try {
        const image = await this.client.getImage(name, call);
        digest = image.target.digest;
        resolved = await this.reader.resolve(image.target, call);
        for (const layer of resolved.manifest.layers) await this.client.contentInfo(layer.digest, call);
      } catch (e) {
        if (isNotFound(e)) continue;
        throw e;
      }
      const image = resolved;
      return this.tracked(() => withLease(this.client, this.namespace, async (lease) => {
        const leased = { namespace: this.namespace, lease };
        const { chainId } = await unpackImage(this.client, image, { ...leased, snapshotter: DEFAULT_SNAPSHOTTER, beforeApply: unpackSpaceCheck(this.client, image, DEFAULT_SNAPSHOTTER, leased) });
        return { config: toImageConfig(image.config), snapshotParent: chainId, digest };
      }));
    }
    return undefined;
  }

  /** Run `op` as one of the operations prune must not overlap with. */
  private async tracked<T>(op: () => Promise<T>): Promise<T> {
    if (this.pruning) await this.pruning.catch(() => undefined);
    const p = op();
    this.busy.add(p);
    try {
      return await p;
    } finally {
      this.busy.delete(p);
    }
  }

  /** Pull `ref` from its registry (always asks the registry; present blobs are not downloaded again). */
  async pull(ref: string, onProgress?: (p: PullProgress) => void, signal?: AbortSignal): Promise<{ name: string; digest: string; config: ImageConfigJson; chainId: string }> {
    // Loaded on first pull: a host whose images are all present never loads the registry client.
    const [{ pullImage }, { registryConfig }] = await Promise.all([import('./pull.js'), import('./registry/config.js')]);
    const policy = this.policy?.();
    const registry = registryConfig(policy?.containerRegistry ?? { mirrors: new Map(), credentials: new Map(), insecure: new Map() });
    const limits = policy?.images;
    const pulled = await this.tracked(() => pullImage(this.client, ref, {
      namespace: this.namespace,
      registry,
      ...(onProgress ? { onProgress } : {}),
      ...(signal ? { signal } : {}),
      ...(limits?.pullTimeoutMs !== undefined ? { timeoutMs: limits.pullTimeoutMs } : {}),
      ...(limits?.pullStallTimeoutMs !== undefined ? { stallTimeoutMs: limits.pullStallTimeoutMs } : {}),
    }));
    for (const name of [ref, pulled.name]) this.known.delete(name);
    return { name: pulled.name, digest: pulled.target.digest, config: pulled.config, chainId: pulled.chainId };
  }

  /** Remove content and snapshots that no image or container uses; waits for pulls and imports in flight. */
  async prune(): Promise<PruneResult> {
    const run = (async (): Promise<PruneResult> => {
      await Promise.allSettled([...this.busy]);
      const { pruneUnused } = await import('./prune.js');
      return pruneUnused(this.client, this.namespace);
    })();
    this.pruning = run;
    try {
      return await run;
    } finally {
      if (this.pruning === run) this.pruning = undefined;
    }
  }

  async import(file: string, ref?: string): Promise<{ name: string; digest: string }[]> {
    this.known.clear();
    const { importArchive } = await import('./import.js');
    const maxUnpackedSize = this.policy?.().images.maxUnpackedSize;
    const imported = await this.tracked(() => importArchive(this.client, file, { namespace: this.namespace, ref, ...(maxUnpackedSize ? { maxUnpackedSize } : {}) }));
    return imported.map((i) => ({ name: i.name, digest: i.target.digest }));
  }

  /**
   * Make images another namespace holds usable here without reading their archive again: content is
   * linked (stored once on disk), nothing is unpacked until a container here needs it (ensure).
   */
  async adopt(from: string, names: string[]): Promise<void> {
    for (const n of names) this.known.delete(n);
    const { linkImages } = await import('./import.js');
    await this.tracked(() => linkImages(this.client, from, this.namespace, names));
  }

  async list(): Promise<{ name: string; digest: string; size: number }[]> {
    const images = await this.client.listImages([], { namespace: this.namespace });
    return Promise.all(images.map(async (i) => {
      let size = i.target.size;
      try {
        const r = await this.reader.resolve(i.target, { namespace: this.namespace });
        size = r.manifest.layers.reduce((n, l) => n + l.size, r.manifest.config.size);
      } catch {
        /* content missing: report the target size */
      }
      return { name: i.name, digest: i.target.digest, size };
    }));
  }

  /**
   * Record the image whose target is `digest` under `name` too (made or moved), so it is run by exactly
   * those bytes later, however its tag moves, and is kept until that name is removed (a rollout's
   * previous image). Throws ImageMissingError when no image here has that digest.
   */
  async pin(digest: string, name: string): Promise<void> {
    const call = { namespace: this.namespace };
    const images = await this.client.listImages([], call);
    const source = images.find((i) => i.target.digest === digest);
    if (!source) throw new ImageMissingError(digest, 'no image in the store has this digest');
    this.known.delete(name);
    const labels = { 'berth.pinned-from': source.name };
    try {
      await this.client.createImage({ name, target: source.target, labels }, call);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      await this.client.updateImage({ name, target: source.target, labels }, ['target', 'labels'], call);
    }
  }

  async remove(ref: string): Promise<void> {
    this.known.delete(ref);
    const names = ImageService.names(ref);
    for (const name of names.slice(0, -1)) {
      try {
        await this.client.deleteImage(name, true, { namespace: this.namespace });
        return;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    await this.client.deleteImage(names[names.length - 1]!, true, { namespace: this.namespace });
  }
}
