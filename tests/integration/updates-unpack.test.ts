// Issue 17: the root image is unpacked while it downloads (src/updates/target-download.ts). Served over
// file:// (the same fetcher as http), a target packed with gzip, zstd or not at all ends up as the same
// unpacked image, kept only once the signed sha256 and length verified; a mismatch leaves nothing; a stream
// that inflates past what the image can be is stopped; a whole earlier download is reused only for the same
// signed target. Needs the zstd command (Debian zstd), as the image has it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { TargetFile } from '@tufjs/models';
import { RepositoryFetcher } from '../../src/updates/fetcher.js';
import { maxRootImageBytes } from '../../src/updates/repository.js';
import { downloadUnpacked, findUnpacked } from '../../src/updates/target-download.js';

const execFileP = promisify(execFile);
let dir = '';
let image = Buffer.alloc(0);

function targetOf(name: string, bytes: Buffer): TargetFile {
  return new TargetFile({ path: name, length: bytes.length, hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } });
}

async function publish(name: string, bytes: Buffer): Promise<{ url: string; info: TargetFile }> {
  const file = path.join(dir, 'repo', name);
  await writeFile(file, bytes);
  return { url: pathToFileURL(file).toString(), info: targetOf(name, bytes) };
}

async function download(name: string, bytes: Buffer, max = image.length + 4096, served = bytes): Promise<string> {
  const { url } = await publish(name, served);
  return downloadUnpacked(new RepositoryFetcher(10_000), url, targetOf(name, bytes), path.join(dir, 'dl', name), max);
}

async function leftovers(): Promise<string[]> {
  return (await readdir(path.join(dir, 'dl'))).sort();
}

describe('root image download: unpacked while it arrives', () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-unpack-'));
    await execFileP('mkdir', ['-p', path.join(dir, 'repo'), path.join(dir, 'dl')]);
    // Half random, half repeated: both codecs have something to do, and a wrong byte anywhere shows.
    image = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(3 << 20, 7), randomBytes(12345)]);
    await writeFile(path.join(dir, 'root.img'), image);
    await execFileP('zstd', ['-q', '-3', path.join(dir, 'root.img'), '-o', path.join(dir, 'root.img.zst')]);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const packing of ['none', 'gzip', 'zstd'] as const) {
    it(`${packing}: the unpacked image is byte for byte the built one, with a record of the signed target`, async () => {
      const name = `root-${packing}.img`;
      const packed = packing === 'none' ? image : packing === 'gzip' ? gzipSync(image, { level: 1 }) : await readFile(path.join(dir, 'root.img.zst'));
      const got = await download(name, packed);
      assert.equal(got, path.join(dir, 'dl', `${name}.unpacked`));
      assert.ok((await readFile(got)).equals(image), 'the unpacked bytes are the image');
      const record = JSON.parse(await readFile(`${got}.json`, 'utf8')) as { packing: string; size: number; sha256: string };
      assert.equal(record.packing, packing);
      assert.equal(record.size, image.length);
      assert.equal(await findUnpacked(targetOf(name, packed), path.join(dir, 'dl', name)), got, 'a whole download is reused');
      const other = Buffer.concat([packed, Buffer.from([0])]);
      assert.equal(await findUnpacked(targetOf(name, other), path.join(dir, 'dl', name)), undefined, 'not for another signed target');
      assert.ok(!(await leftovers()).some((f) => f.endsWith('.part')), 'no partial file left');
    });
  }

  it('bytes that do not match the signed sha256 are refused and leave nothing', async () => {
    const packed = gzipSync(image, { level: 1 });
    const served = Buffer.from(packed);
    served[served.length - 100] ^= 0xff;
    await assert.rejects(download('tampered.img', packed, image.length + 4096, served), /Expected hash/);
    assert.deepEqual((await leftovers()).filter((f) => f.startsWith('tampered')), []);
  });

  it('a stream that inflates past what the image can be is stopped, leaving nothing', async () => {
    const bomb = gzipSync(Buffer.alloc(64 << 20), { level: 9 }); // 64 MiB of zeros in about 64 KiB
    await assert.rejects(download('bomb.img', bomb, 8 << 20), /root image target bomb\.img unpacks to more than 8388608 bytes/);
    assert.deepEqual((await leftovers()).filter((f) => f.startsWith('bomb')), []);
  });

  it('a signed but corrupt zstd stream is refused naming zstd, leaving nothing', async () => {
    const zst = await readFile(path.join(dir, 'root.img.zst'));
    const cut = zst.subarray(0, zst.length >> 1); // signed as it is: the hash passes, the frame is cut short
    await assert.rejects(download('cut.img', cut), /root image target cut\.img is not a valid zstd stream: zstd exited 1/);
    assert.deepEqual((await leftovers()).filter((f) => f.startsWith('cut')), []);
  });

  it('the bound leaves room for the data, its dm-verity hash tree and padding', () => {
    const data = 512 << 20;
    const tree = Math.ceil(data / 4096 / 128) * 4096 * 1.01 + 4096 * 8; // level 0 and the rest, generously
    assert.ok(maxRootImageBytes(data) >= data + tree);
    assert.ok(maxRootImageBytes(data) < data * 1.1, 'but not much more');
  });
});
