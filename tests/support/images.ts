import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeOciArchive, type LayerEntry } from '../../src/images/oci-archive.js';
import { busyboxRootfs, BUSYBOX_PATH } from '../../src/images/busybox-rootfs.js';

/** Repository-local cache (gitignored), so archives are built once and reused between runs. */
export const CACHE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../.cache/test-images');
export const BUSYBOX_REF = 'localhost/berth-test/busybox:latest';

function busyboxKey(): string {
  return createHash('sha256').update(readFileSync(BUSYBOX_PATH)).digest('hex').slice(0, 16);
}

/** The busybox test image archive (a shell and coreutils), built from Debian's busybox-static. */
export async function busyboxArchive(): Promise<string> {
  const file = path.join(CACHE_DIR, `busybox-${busyboxKey()}.tar`);
  if (existsSync(file)) return file;
  await writeOciArchive(file, { ref: BUSYBOX_REF, layers: [busyboxRootfs()], config: { cmd: ['/bin/sh'] } });
  return file;
}

/** A two-layer image: busybox plus a layer holding `/hello.txt`, to exercise chain ids. */
export async function twoLayerArchive(): Promise<string> {
  const file = path.join(CACHE_DIR, `two-layer-${busyboxKey()}.tar`);
  if (existsSync(file)) return file;
  const extra: LayerEntry[] = [{ type: 'file', path: 'hello.txt', content: Buffer.from('hello from layer two\n'), mode: 0o644 }];
  await writeOciArchive(file, { ref: 'localhost/berth-test/two-layer:latest', layers: [busyboxRootfs(), extra], config: { cmd: ['/bin/cat', '/hello.txt'] } });
  return file;
}

/** Small archives with specific defects, built fresh in `dir`. */
export async function brokenArchives(dir: string): Promise<{ truncated: string; badDigest: string; noIndex: string; notTar: string; missingBlob: string }> {
  await mkdir(dir, { recursive: true });
  const tiny: LayerEntry[] = [{ type: 'file', path: 'x', content: Buffer.from('x'), mode: 0o644 }];
  const good = path.join(dir, 'good.tar');
  const built = await writeOciArchive(good, { ref: 'localhost/berth-test/broken:latest', layers: [tiny], config: { cmd: ['/x'] } });
  const bytes = await readFile(good);

  const truncated = path.join(dir, 'truncated.tar');
  await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));

  // Flip a byte inside the config blob's content: its digest no longer matches its file name.
  const badDigest = path.join(dir, 'bad-digest.tar');
  const configName = Buffer.from(`blobs/sha256/${built.configDigest.slice(7)}`);
  const at = bytes.indexOf(configName);
  const copy = Buffer.from(bytes);
  const dataStart = at + 512; // the file's data follows its 512-byte header
  copy[dataStart + 5] = copy[dataStart + 5]! ^ 0x20;
  await writeFile(badDigest, copy);

  const noIndex = path.join(dir, 'no-index.tar');
  const onlyBlob = await writeMinimalTar([['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')]]);
  await writeFile(noIndex, onlyBlob);

  const notTar = path.join(dir, 'not-tar.tar');
  await writeFile(notTar, Buffer.from('this is not a tar archive at all\n'.repeat(40)));

  const missingBlob = path.join(dir, 'missing-blob.tar');
  const indexOnly = await writeMinimalTar([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: built.manifestDigest, size: 10, annotations: { 'io.containerd.image.name': 'localhost/berth-test/missing:latest' } }] }))],
  ]);
  await writeFile(missingBlob, indexOnly);
  const tmp = `${good}.x`;
  await rename(good, tmp);
  return { truncated, badDigest, noIndex, notTar, missingBlob };
}

async function writeMinimalTar(files: [string, Buffer][]): Promise<Buffer> {
  const { pack } = await import('tar-stream');
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r) => p.on('end', () => r()));
  for (const [name, content] of files) p.entry({ name, mtime: new Date(0) }, content);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}
