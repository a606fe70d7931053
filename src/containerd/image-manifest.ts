import { createHash } from 'node:crypto';
import type { ContainerdClient, CallOptions } from './client.js';
import type { Descriptor } from './types.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}
export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** JSON descriptor as found in OCI/Docker manifests (camelCase mediaType). */
export interface JsonDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}
export interface IndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: JsonDescriptor[];
}
export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config: JsonDescriptor;
  layers: JsonDescriptor[];
}
export interface ImageConfigJson {
  architecture?: string;
  os?: string;
  config?: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Env?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
  };
  rootfs: { type: string; diff_ids: string[] };
}

export interface ResolvedImage {
  manifestDigest: string;
  manifest: ManifestJson;
  configDigest: string;
  config: ImageConfigJson;
  diffIds: string[];
  chainIds: string[];
}

export const isIndex = (mediaType: string): boolean => mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList;
export const isManifest = (mediaType: string): boolean => mediaType === MEDIA.ociManifest || mediaType === MEDIA.dockerManifest;

/** chain[0] = diff[0]; chain[i] = sha256(chain[i-1] + " " + diff[i]) (API facts §7.1). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

/** Pick the manifest for a platform out of an index; an entry without a platform matches anything. */
export function selectManifest(index: IndexJson, platform: Platform = DEFAULT_PLATFORM): JsonDescriptor | undefined {
  const candidates = index.manifests.filter((m) => isManifest(m.mediaType) || isIndex(m.mediaType));
  return (
    candidates.find((m) => m.platform?.os === platform.os && m.platform?.architecture === platform.architecture && (!platform.variant || m.platform?.variant === platform.variant)) ??
    candidates.find((m) => !m.platform)
  );
}

export const toProtoDescriptor = (d: JsonDescriptor): Descriptor => ({ media_type: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations ?? {} });

/**
 * Reads manifests and configs from the content store. Blobs are immutable, so results are cached by
 * digest: starting many units from one image reads its metadata once.
 */
export class ImageReader {
  private readonly cache = new Map<string, ResolvedImage>();
  constructor(private readonly client: ContainerdClient) {}

  async readJson<T>(digest: string, opts?: CallOptions): Promise<T> {
    return JSON.parse((await this.client.readContent(digest, opts)).toString('utf8')) as T;
  }

  async resolve(target: Descriptor, opts?: CallOptions, platform: Platform = DEFAULT_PLATFORM): Promise<ResolvedImage> {
    const key = `${opts?.namespace ?? this.client.namespace}/${target.digest}/${platform.os}/${platform.architecture}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let desc: JsonDescriptor = { mediaType: target.media_type, digest: target.digest, size: target.size };
    for (let depth = 0; isIndex(desc.mediaType); depth++) {
      if (depth > 4) throw new Error(`${target.digest}: index nesting too deep`);
      const index = await this.readJson<IndexJson>(desc.digest, opts);
      const chosen = selectManifest(index, platform);
      if (!chosen) throw new Error(`${target.digest}: no manifest for ${platform.os}/${platform.architecture}`);
      desc = chosen;
    }
    if (!isManifest(desc.mediaType)) throw new Error(`${desc.digest}: unsupported media type ${desc.mediaType}`);
    const manifest = await this.readJson<ManifestJson>(desc.digest, opts);
    const config = await this.readJson<ImageConfigJson>(manifest.config.digest, opts);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new Error(`${desc.digest}: config lists ${diffIds.length} diff ids for ${manifest.layers.length} layers`);
    }
    const resolved: ResolvedImage = { manifestDigest: desc.digest, manifest, configDigest: manifest.config.digest, config, diffIds, chainIds: chainIds(diffIds) };
    this.cache.set(key, resolved);
    return resolved;
  }
}
