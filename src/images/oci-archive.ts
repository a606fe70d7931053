import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as tarPack, type Pack } from 'tar-stream';
import { pipeline } from 'node:stream/promises';

/** One entry of an image layer. Timestamps are fixed so the same input gives the same digests. */
export type LayerEntry =
  | { type: 'file'; path: string; content: Buffer; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string };

export interface ImageConfigInput {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
  stopSignal?: string;
}

export interface ArchiveInput {
  /** Reference recorded as `io.containerd.image.name` and `org.opencontainers.image.ref.name`. */
  ref: string;
  layers: LayerEntry[][];
  config: ImageConfigInput;
}

export interface BuiltArchive {
  manifestDigest: string;
  configDigest: string;
  diffIds: string[];
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const EPOCH = new Date(0);

function addEntry(p: Pack, e: LayerEntry): Promise<void> {
  const name = e.path.replace(/^\/+/, '');
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (e.type === 'file') p.entry({ name, mode: e.mode ?? 0o755, mtime: EPOCH, uid: 0, gid: 0 }, e.content, done);
    else if (e.type === 'dir') p.entry({ name, type: 'directory', mode: e.mode ?? 0o755, mtime: EPOCH, uid: 0, gid: 0 }, done);
    else p.entry({ name, type: 'symlink', linkname: e.target, mode: 0o777, mtime: EPOCH, uid: 0, gid: 0 }, done);
  });
}

async function tarToBuffer(fill: (p: Pack) => Promise<void>): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  await fill(p);
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** A layer tar (uncompressed) from entries, in the given order. */
export function layerTar(entries: LayerEntry[]): Promise<Buffer> {
  return tarToBuffer(async (p) => {
    for (const e of entries) await addEntry(p, e);
  });
}

/**
 * Write an OCI image-layout archive (what `ctr images import` reads): oci-layout, index.json, blobs.
 * The blobs of `extraBlobs` let tests plant broken content.
 */
export async function writeOciArchive(file: string, input: ArchiveInput): Promise<BuiltArchive> {
  const blobs = new Map<string, Buffer>();
  const add = (b: Buffer): string => {
    const d = sha256(b);
    blobs.set(d, b);
    return d;
  };
  const diffIds: string[] = [];
  const layerDescs = [];
  for (const entries of input.layers) {
    const tar = await layerTar(entries);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar, { level: 6 });
    layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: add(gz), size: gz.length });
  }
  const c = input.config;
  const config = Buffer.from(JSON.stringify({
    created: EPOCH.toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: {
      Entrypoint: c.entrypoint, Cmd: c.cmd, Env: c.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      WorkingDir: c.workingDir ?? '/', User: c.user, Labels: c.labels, StopSignal: c.stopSignal,
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
  }));
  const configDigest = add(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layerDescs,
  }));
  const manifestDigest = add(manifest);
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: { 'io.containerd.image.name': input.ref, 'org.opencontainers.image.ref.name': input.ref },
    }],
  }));
  const files: [string, Buffer][] = [
    ['oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))],
    ['index.json', index],
    ...[...blobs].map(([d, b]): [string, Buffer] => [`blobs/sha256/${d.slice(7)}`, b]),
  ];
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const archive = tarPack();
  const written = pipeline(archive, createWriteStream(tmp));
  for (const [name, content] of files) await addEntry(archive, { type: 'file', path: name, content, mode: 0o644 });
  archive.finalize();
  await written;
  await rename(tmp, file);
  return { manifestDigest, configDigest, diffIds };
}
