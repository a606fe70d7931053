// Import guards without containerd: the free-space decision, opening only regular files (never blocking the
// thread pool), and measuring a layer's unpacked size while it streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decideSpace, reserveFor, DiskSpaceError } from '../../src/images/disk-space.js';
import { grpcCodeOf } from '../../src/api/errors.js';
import { openArchive, ImportError } from '../../src/containerd/archive-file.js';
import { BlobScanner, UnpackedSizeError, type ScanResult } from '../../src/containerd/layer-scan.js';
import { SETTINGS, policyOf } from '../../src/settings/index.js';
import { END, gzipChunks, tarEntry, tarHeader, zeroFileLayer } from '../support/hostile-archives.js';
import { withDeadline } from '../support/wait.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

test('reserve: 5 % of the filesystem, at least 16 MiB, at most 1 GiB', () => {
  assert.equal(reserveFor({ bsize: 4096, blocks: (64 * MiB) / 4096, bavail: 0 }), 16 * MiB);
  assert.equal(reserveFor({ bsize: 4096, blocks: (2 * GiB) / 4096, bavail: 0 }), Math.round(2 * GiB * 0.05));
  assert.equal(reserveFor({ bsize: 4096, blocks: (1000 * GiB) / 4096, bavail: 0 }), GiB);
});

test('free-space decision: fits with the reserve left, or a refusal naming sizes and place', () => {
  const fs = { bsize: 4096, blocks: (100 * GiB) / 4096, bavail: (10 * GiB) / 4096 }; // reserve 1 GiB
  assert.deepEqual(decideSpace(9 * GiB, fs, 'x', '/r'), { ok: true, free: 10 * GiB, reserve: GiB });
  const no = decideSpace(9 * GiB + 1, fs, 'unpacking 1 layer(s)', '/var/lib/containerd');
  assert.equal(no.ok, false);
  assert.ok(!no.ok && /unpacking 1 layer\(s\) needs 9\.0 GiB but \/var\/lib\/containerd has 10 GiB free, of which 1 GiB is kept in reserve/.test(no.message), !no.ok ? no.message : '');
  // A full disk refuses even a byte; an empty import always fits.
  assert.equal(decideSpace(1, { bsize: 4096, blocks: 1000, bavail: 0 }, 'x', '/r').ok, false);
  assert.equal(decideSpace(0, { bsize: 4096, blocks: 100_000, bavail: 50_000 }, 'x', '/r').ok, true);
  // Out of disk is RESOURCE_EXHAUSTED on the API, not the caller's INVALID_ARGUMENT nor INTERNAL.
  assert.equal(grpcCodeOf(new DiskSpaceError('images import: no room')), 8);
});

test('openArchive refuses a FIFO, a device, a directory and a socket at once, naming the kind', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imp-kinds-'));
  const server = net.createServer();
  try {
    const fifo = path.join(dir, 'fifo');
    await promisify(execFile)('mkfifo', [fifo]);
    const sock = path.join(dir, 'sock');
    await new Promise<void>((r) => server.listen(sock, r));
    const link = path.join(dir, 'link-to-fifo');
    await symlink(fifo, link);
    const cases: [string, RegExp][] = [
      [fifo, /is a FIFO \(named pipe\), not a regular file/],
      [link, /is a FIFO \(named pipe\), not a regular file/],
      ['/dev/zero', /^images import: \/dev\/zero is a character device, not a regular file$/],
      [dir, /is a directory, not a regular file/],
      [sock, /is a socket, not a regular file/],
    ];
    // A blocking open of the FIFO would never return: the deadline turns that hang into a failure.
    for (const [file, msg] of cases) {
      await withDeadline(assert.rejects(openArchive(file), (e: Error) => e instanceof ImportError && msg.test(e.message)), 5000, `refusal of ${file}`);
    }
    // A regular file, directly or through a symlink, opens.
    const ok = path.join(dir, 'ok.tar');
    await writeFile(ok, 'x');
    const okLink = path.join(dir, 'ok-link');
    await symlink(ok, okLink);
    for (const f of [ok, okLink]) {
      const a = await openArchive(f);
      assert.equal(a.size, 1);
      await a.fh.close();
    }
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

async function scan(blob: Buffer | Iterable<Buffer>, limit: number): Promise<ScanResult> {
  const s = new BlobScanner('layer L', limit);
  try {
    for (const c of Buffer.isBuffer(blob) ? [blob] : blob) await s.push(c);
    return await s.end();
  } finally {
    s.dispose();
  }
}

test('scanner: a gzip bomb is refused after the limit, having decompressed little more', async () => {
  const bomb = await zeroFileLayer(200);
  assert.ok(bomb.gz.length < 400 * 1024, `bomb is ${bomb.gz.length} bytes`);
  // The header declares 200 MiB: refused on the header, before the zeros.
  await assert.rejects(scan(bomb.gz, 50 * MiB), (e: Error) => e instanceof UnpackedSizeError && /declare/.test(e.message) && /max-unpacked-size/.test(e.message));
  // Plain zeros (no tar headers at all): refused by the decompressed count.
  const raw = await gzipChunks((function* () {
    const z = Buffer.alloc(MiB);
    for (let i = 0; i < 200; i++) yield z;
  })());
  await assert.rejects(scan(raw.gz, 50 * MiB), (e: Error) => e instanceof UnpackedSizeError && /decompressed/.test(e.message));
});

test('scanner: a header declaring a huge size is refused however short the stream', async () => {
  const huge = Buffer.concat([tarHeader('big', 2 ** 40), Buffer.alloc(1024)]);
  await assert.rejects(scan(huge, 50 * MiB), UnpackedSizeError);
  // GNU sparse (type S) real size at offset 483.
  const sparse = tarHeader('sparse', 0, 'S');
  sparse.write('77777777777\0', 483, 'latin1');
  sparse.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of sparse) sum += b;
  sparse.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  await assert.rejects(scan(Buffer.concat([sparse, END]), 50 * MiB), UnpackedSizeError);
  // PAX GNU.sparse.realsize on the next entry.
  const rec = (k: string, v: string): string => {
    const body = ` ${k}=${v}\n`;
    let n = body.length + 1;
    while (`${n}${body}`.length !== n) n++;
    return `${n}${body}`;
  };
  const pax = tarEntry('PaxHeaders/x', Buffer.from(rec('GNU.sparse.realsize', String(2 ** 40))), 'x');
  await assert.rejects(scan(Buffer.concat([pax, tarEntry('x', Buffer.from('a')), END]), 50 * MiB), UnpackedSizeError);
});

test('scanner: sizes of a normal layer, and problems named for bad ones', async () => {
  const layer = await gzipChunks([tarEntry('a', Buffer.alloc(5000)), tarHeader('d', 0, '5'), tarEntry('l', Buffer.alloc(0), '2', 'a'), END]);
  const r = await scan(layer.gz, 50 * MiB);
  assert.equal(r.kind, 'gzip');
  assert.equal(r.problem, undefined);
  assert.equal(r.declaredBytes, 8192 + 4096);
  assert.equal(r.streamBytes, layer.rawSize);
  assert.equal(r.unpackedSize, Math.max(layer.rawSize, 8192 + 4096));
  // Chunk boundaries do not matter.
  const pieces: Buffer[] = [];
  for (let i = 0; i < 2000; i++) pieces.push(layer.gz.subarray(i, i + 1));
  pieces.push(layer.gz.subarray(2000));
  const r1 = await scan(pieces, 50 * MiB);
  assert.equal(r1.declaredBytes, r.declaredBytes);

  assert.match((await scan(Buffer.concat([tarEntry('../../etc/passwd', Buffer.from('x')), END]), MiB * 50)).problem ?? '', /"\.\.\/\.\.\/etc\/passwd" has a "\.\." path component/);
  assert.match((await scan(Buffer.concat([tarEntry('h', Buffer.alloc(0), '1', '../../etc/shadow'), END]), MiB * 50)).problem ?? '', /hard link/);
  assert.match((await scan(tarEntry('a', Buffer.alloc(5000)).subarray(0, 1500), MiB * 50)).problem ?? '', /truncated/);
  assert.equal((await scan(Buffer.from('{"json": true}'), MiB * 50)).kind, 'other');
  // A big blob that is no tar (a non-layer artifact) is not refused for its size; a gzip of non-tar bytes
  // stops being decompressed as soon as it is known not to be a tar.
  const notTar = await scan(Buffer.alloc(3 * MiB, 0x41), 1 * MiB);
  assert.equal(notTar.kind, 'other');
  const gzNotTar = await scan((await gzipChunks([Buffer.alloc(64 * MiB, 0x41)])).gz, 1 * MiB);
  assert.equal(gzNotTar.problem, 'not a tar stream');
  assert.ok(gzNotTar.streamBytes < 8 * MiB, `decompressed ${gzNotTar.streamBytes} bytes of a non-tar`);
  assert.equal((await scan(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]), MiB * 50)).kind, 'zstd');
  assert.match((await scan(Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]), MiB * 50)).problem ?? '', /gzip|truncated|tar/);
});

test('images.max-unpacked-size: sizes like 8Gi, default 8 GiB, nonsense refused', async () => {
  assert.equal(policyOf(new Map()).images.maxUnpackedSize, 8 * GiB);
  assert.equal(policyOf(new Map([['images.max-unpacked-size', '50Mi']])).images.maxUnpackedSize, 50 * MiB);
  const type = SETTINGS.find((d) => d.pattern === 'images.max-unpacked-size')!.type;
  assert.equal(type.schema.safeParse('50Mi').success, true);
  assert.equal(type.schema.safeParse('lots').success, false);
  assert.equal(type.schema.safeParse('10').success, false);
  const shipped = await readFile(new URL('../../../rootfs/usr/share/berth/settings.toml', import.meta.url), 'utf8');
  assert.match(shipped, /max-unpacked-size = "8Gi"/);
});
