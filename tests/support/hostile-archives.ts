// Hostile image archives for the import guards (tests and the chaos suite's R7): gzip bombs, tar headers
// declaring absurd sizes, `..` names, zstd and non-tar layers, and non-regular files. Layers are built from
// raw tar blocks so that what the headers say can differ from what follows; big layers are streamed
// through zlib so no test holds 200 MiB in memory.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';

const BLOCK = 512;
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A ustar header; `size` may be any number (base-256 above the octal field's 8 GiB). */
export function tarHeader(name: string, size: number, type = '0', linkname = ''): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  else {
    h[124] = 0x80;
    let n = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(n & 0xffn);
      n >>= 8n;
    }
  }
  h.write('00000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(linkname.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

const pad = (n: number): Buffer => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
export const END = Buffer.alloc(2 * BLOCK);

/** A tar entry with its data (padded). */
export function tarEntry(name: string, data: Buffer, type = '0', linkname = ''): Buffer {
  return Buffer.concat([tarHeader(name, data.length, type, linkname), data, pad(data.length)]);
}

/** gzip of a stream of chunks, and the digest of the uncompressed bytes (the layer's diff id). */
export async function gzipChunks(chunks: Iterable<Buffer>): Promise<{ gz: Buffer; diffId: string; rawSize: number }> {
  const hash = createHash('sha256');
  let rawSize = 0;
  const parts: Buffer[] = [];
  const gzip = createGzip({ level: 6 });
  gzip.on('data', (c: Buffer) => parts.push(c));
  // pipeline() settles when gzip's writable side finishes, which can be before its last output (the
  // trailer) is read: wait for the readable side's end too, or the gzip comes out truncated.
  const ended = new Promise<void>((resolve) => gzip.once('end', resolve));
  const src = Readable.from((function* () {
    for (const c of chunks) {
      hash.update(c);
      rawSize += c.length;
      yield c;
    }
  })());
  await pipeline(src, gzip);
  await ended;
  return { gz: Buffer.concat(parts), diffId: `sha256:${hash.digest('hex')}`, rawSize };
}

/** `mib` MiB of zeros, 1 MiB at a time. */
export function* zeros(mib: number): Generator<Buffer> {
  const z = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) yield z;
}

/** A gzip'ed tar holding one file of `mib` MiB of zeros: ~1000:1. */
export function zeroFileLayer(mib: number): Promise<{ gz: Buffer; diffId: string; rawSize: number }> {
  return gzipChunks((function* () {
    yield tarHeader('zeros', mib << 20);
    yield* zeros(mib);
    yield END;
  })());
}

export interface RawLayer {
  blob: Buffer;
  mediaType: string;
  diffId: string;
}

/**
 * An OCI layout archive around raw layer blobs (written as they are, whatever they contain), with a config
 * naming their diff ids, written to `file`. Returns the file.
 */
export async function archiveWithLayers(file: string, ref: string, layers: RawLayer[]): Promise<string> {
  const blobs = new Map<string, Buffer>();
  const add = (b: Buffer): string => {
    const d = sha256(b);
    blobs.set(d, b);
    return d;
  };
  const layerDescs = layers.map((l) => ({ mediaType: l.mediaType, digest: add(l.blob), size: l.blob.length }));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/x'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: add(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: layerDescs }));
  const manifestDigest = add(manifest);
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, platform: { architecture: 'amd64', os: 'linux' }, annotations: { 'io.containerd.image.name': ref } }],
  }));
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const p = tarPack();
  const written = pipeline(p, createWriteStream(tmp));
  const entry = (name: string, content: Buffer): Promise<void> => new Promise((resolve, reject) => p.entry({ name, mode: 0o644, mtime: new Date(0) }, content, (e) => (e ? reject(e) : resolve())));
  await entry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  await entry('index.json', index);
  for (const [d, b] of blobs) await entry(`blobs/sha256/${d.slice(7)}`, b);
  p.finalize();
  await written;
  await rename(tmp, file);
  return file;
}

export const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const TAR_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** A gzip'ed layer from entries (small). */
export async function gzLayer(...entries: Buffer[]): Promise<RawLayer> {
  const { gz, diffId } = await gzipChunks([...entries, END]);
  return { blob: gz, mediaType: GZIP_LAYER, diffId };
}
