import type { ContainerdClient } from '../containerd/client.js';
import { isNotFound } from '../containerd/errors.js';
import { importArchive } from '../containerd/import.js';
import { ImageReader, type ImageConfigJson } from '../containerd/image-manifest.js';
import { DEFAULT_SNAPSHOTTER, snapshotExists } from '../containerd/unpack.js';
import { builtinArchive, isBuiltinImage } from '../images/builtin.js';
import type { ImageConfig } from '../spec/types.js';

export class ImageMissingError extends Error {
  constructor(readonly ref: string) {
    super(`image ${ref} is not present in containerd; import it with \`berthctl images import FILE --ref ${ref}\``);
    this.name = 'ImageMissingError';
  }
}

export interface EnsuredImage {
  config: ImageConfig;
  /** The image's top chain id: the parent of a container's rootfs snapshot. */
  snapshotParent: string;
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
  private readonly inflight = new Map<string, Promise<EnsuredImage>>();
  /** Images known present and unpacked: starting a unit then costs no image RPC at all. */
  private readonly known = new Map<string, EnsuredImage>();

  constructor(private readonly client: ContainerdClient, readonly namespace: string, private readonly cacheDir: string) {
    this.reader = new ImageReader(client);
  }

  ensure(ref: string): Promise<EnsuredImage> {
    const known = this.known.get(ref);
    if (known) return Promise.resolve(known);
    // Many units starting from one image share one check/import.
    const pending = this.inflight.get(ref);
    if (pending) return pending;
    const p = this.ensureOnce(ref)
      .then((r) => (this.known.set(ref, r), r))
      .finally(() => this.inflight.delete(ref));
    this.inflight.set(ref, p);
    return p;
  }

  forget(ref: string): void {
    this.known.delete(ref);
  }

  private async present(ref: string): Promise<EnsuredImage | undefined> {
    const call = { namespace: this.namespace };
    try {
      const image = await this.client.getImage(ref, call);
      const resolved = await this.reader.resolve(image.target, call);
      const top = resolved.chainIds[resolved.chainIds.length - 1] ?? '';
      if (!top || (await snapshotExists(this.client, DEFAULT_SNAPSHOTTER, top, this.namespace))) return { config: toImageConfig(resolved.config), snapshotParent: top };
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return undefined;
  }

  private async ensureOnce(ref: string): Promise<EnsuredImage> {
    const found = await this.present(ref);
    if (found) return found;
    if (!isBuiltinImage(ref)) throw new ImageMissingError(ref);
    const archive = await builtinArchive(ref, this.cacheDir);
    await importArchive(this.client, archive!, { namespace: this.namespace, ref });
    const imported = await this.present(ref);
    if (!imported) throw new ImageMissingError(ref);
    return imported;
  }

  async import(file: string, ref?: string): Promise<{ name: string; digest: string }[]> {
    this.known.clear();
    const imported = await importArchive(this.client, file, { namespace: this.namespace, ref });
    return imported.map((i) => ({ name: i.name, digest: i.target.digest }));
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

  async remove(ref: string): Promise<void> {
    this.known.delete(ref);
    await this.client.deleteImage(ref, true, { namespace: this.namespace });
  }
}
