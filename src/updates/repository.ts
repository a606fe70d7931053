// The updater's view of an update repository: tuf-js does every TUF check (signatures and thresholds, expiry,
// versions never going backwards, snapshot/targets consistency, target lengths and hashes); this module
// only sets it up (trusted root, metadata cache, fetcher) and turns its errors into messages that say what
// was refused. Verified targets are downloaded into a per-version directory and reused if they still verify,
// so an interrupted download resumes per file; each is written and hashed in one pass (./target-download.ts).
// The root image is unpacked in that same pass and kept unpacked, so installing it is a copy.

import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Updater, type TargetFile } from 'tuf-js';
import { RepositoryFetcher } from './fetcher.js';
import { MANIFEST_TARGET, parseManifest, type Manifest, type ManifestUpdate } from './manifest.js';
import { downloadUnpacked, downloadVerified, findUnpacked, targetUrl } from './target-download.js';
import { RepositoryError } from './repository-error.js';

export interface RepositoryOptions {
  readonly metadataBaseUrl: string;
  readonly targetsBaseUrl: string;
  /** The root of trust shipped on the verity-protected root, e.g. /usr/share/berth/root.json. */
  readonly trustedRootFile: string;
  /** Where verified metadata is cached between checks (rollback protection needs it); under the state dir. */
  readonly cacheDir: string;
  readonly timeoutMs?: number;
}

export interface DownloadedTargets {
  readonly rootImage: string;
  readonly kernel: string;
  readonly initramfs: string;
  readonly migrations: readonly string[];
}

export type ByteProgress = (done: number, total: number) => void;

/** tuf-js's message, with what it means for an operator added where its words are terse. */
function why(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // tuf-js wraps some causes in "Unable to load … error Error: …"; keep the inner text once.
  const m = err.message.replace(/^Unable to load (snapshot metadata|targets) error (\w*Error: )?/, '').replace(/^Final /, '');
  if (/ was signed by \d+\/\d+ keys$/.test(m)) return `${m} (not signed by enough keys the trusted root names for it)`;
  if (/^New .* is less than current version|^New version .* is less than current/.test(m)) return `${m} (rollback: older metadata than this host has already seen)`;
  if (/^Expected hash /.test(m)) return `its bytes do not match the signed sha256: ${m}`;
  if (/^Expected length |Max length reached/.test(m)) return `its length does not match the signed length: ${m}`;
  if (/does not match snapshot version|doesn't match timestamp|Missing file .* in new snapshot/.test(m)) return `${m} (mixed metadata: snapshot and targets do not belong together)`;
  return m;
}

/**
 * The most bytes a root image with `hashOffset` bytes of data can unpack to: the data, its dm-verity hash tree
 * (sha256 in 4 KiB blocks: under 1/127 of the data, plus a block per level and the superblock) and room for
 * padding. Anything bigger is not the image the manifest describes.
 */
export function maxRootImageBytes(hashOffset: number): number {
  return hashOffset + Math.ceil(hashOffset / 64) + (16 << 20);
}

export class UpdateRepository {
  constructor(private readonly o: RepositoryOptions) {}

  private get metadataDir(): string {
    return join(this.o.cacheDir, 'metadata');
  }

  /** The cache starts from the shipped root, and moves to it again if an image ships a newer one. */
  private async seedTrust(): Promise<void> {
    await mkdir(this.metadataDir, { recursive: true, mode: 0o700 });
    const cached = join(this.metadataDir, 'root.json');
    let shipped: { signed?: { version?: unknown } };
    try {
      shipped = JSON.parse(await readFile(this.o.trustedRootFile, 'utf8')) as typeof shipped;
    } catch (err) {
      throw new RepositoryError(`trusted root ${this.o.trustedRootFile}: ${(err as Error).message}`);
    }
    const current = await readFile(cached, 'utf8').then((t) => JSON.parse(t) as typeof shipped, () => undefined);
    const version = (r: typeof shipped | undefined): number => (typeof r?.signed?.version === 'number' ? r.signed.version : 0);
    if (!current || version(shipped) > version(current)) await copyFile(this.o.trustedRootFile, cached);
  }

  private updater(fetcher: RepositoryFetcher, targetDir?: string): Updater {
    return new Updater({
      metadataDir: this.metadataDir,
      metadataBaseUrl: this.o.metadataBaseUrl,
      targetBaseUrl: this.o.targetsBaseUrl,
      ...(targetDir ? { targetDir } : {}),
      fetcher,
    });
  }

  /** Refreshes the metadata (timestamp → snapshot → targets) and returns the verified manifest. */
  async manifest(signal?: AbortSignal): Promise<Manifest> {
    await this.seedTrust();
    const fetcher = new RepositoryFetcher(this.o.timeoutMs ?? 60_000, signal);
    const dir = join(this.o.cacheDir, 'manifest');
    await mkdir(dir, { recursive: true });
    const updater = this.updater(fetcher, dir);
    await this.refresh(updater, fetcher);
    const info = await updater.getTargetInfo(MANIFEST_TARGET);
    if (!info) throw new RepositoryError(`update repository ${this.o.metadataBaseUrl}: the signed targets list no ${MANIFEST_TARGET}`);
    const file = await this.fetchTarget(updater, fetcher, info, join(dir, MANIFEST_TARGET));
    return parseManifest(await readFile(file, 'utf8'));
  }

  /** Downloads and verifies every target of `update` into `dir`; progress counts bytes over all of them. */
  async download(update: ManifestUpdate, dir: string, progress: ByteProgress, signal?: AbortSignal): Promise<DownloadedTargets> {
    await this.seedTrust();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const fetcher = new RepositoryFetcher(this.o.timeoutMs ?? 60_000, signal);
    const updater = this.updater(fetcher, dir);
    await this.refresh(updater, fetcher);
    const names = [update.images.root, update.images.kernel, update.images.initramfs, ...update.migrations];
    const infos: TargetFile[] = [];
    for (const name of names) {
      const info = await updater.getTargetInfo(name);
      if (!info) throw new RepositoryError(`update repository: ${update.version} names target ${name}, which the signed targets do not list`);
      infos.push(info);
    }
    const total = infos.reduce((n, i) => n + i.length, 0);
    let done = 0;
    const paths: string[] = [];
    for (const [i, info] of infos.entries()) {
      signal?.throwIfAborted();
      fetcher.onBytes = (n) => progress(done + n, total);
      const path = join(dir, info.path);
      paths.push(i === 0 ? await this.fetchRootImage(fetcher, info, path, maxRootImageBytes(update.hashOffset)) : await this.fetchTarget(updater, fetcher, info, path));
      done += info.length;
      progress(done, total);
    }
    const [rootImage, kernel, initramfs, ...migrations] = paths as [string, string, string, ...string[]];
    return { rootImage, kernel, initramfs, migrations };
  }

  private async refresh(updater: Updater, fetcher: RepositoryFetcher): Promise<void> {
    try {
      await updater.refresh();
    } catch (err) {
      const file = fetcher.lastUrl ? ` ${fetcher.lastUrl.split('/').pop() ?? ''}` : '';
      throw new RepositoryError(`update repository ${this.o.metadataBaseUrl} refused${file}: ${why(err)}`, { cause: err });
    }
  }

  /** Whether the trusted root (as refreshed into the cache) names targets by hash-prefixed file names. */
  private async consistentSnapshot(): Promise<boolean> {
    const root = JSON.parse(await readFile(join(this.metadataDir, 'root.json'), 'utf8')) as { signed?: { consistent_snapshot?: unknown } };
    return root.signed?.consistent_snapshot === true;
  }

  /** The root image, unpacked as it arrives (./target-download.ts); an earlier whole download is reused. */
  private async fetchRootImage(fetcher: RepositoryFetcher, info: TargetFile, path: string, maxBytes: number): Promise<string> {
    try {
      const cached = await findUnpacked(info, path);
      if (cached) return cached;
      return await downloadUnpacked(fetcher, targetUrl(this.o.targetsBaseUrl, info, await this.consistentSnapshot()), info, path, maxBytes);
    } catch (err) {
      throw new RepositoryError(`update repository: target ${info.path} refused: ${why(err)}`, { cause: err });
    }
  }

  private async fetchTarget(updater: Updater, fetcher: RepositoryFetcher, info: TargetFile, path: string): Promise<string> {
    try {
      const cached = await updater.findCachedTarget(info, path);
      if (cached) return cached;
      return await downloadVerified(fetcher, targetUrl(this.o.targetsBaseUrl, info, await this.consistentSnapshot()), info, path);
    } catch (err) {
      throw new RepositoryError(`update repository: target ${info.path} refused: ${why(err)}`, { cause: err });
    }
  }
}
