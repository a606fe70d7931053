// Small A/B boot disks for the update tests: a fake "build" (random or compressible bytes as the root, its
// dm-verity hash tree appended with veritysetup format, random kernel and initramfs) turned into a GPT disk
// image file by the real image/disk.sh. A few MB each, sparse, built in well under a second.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const execFileP = promisify(execFile);
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const MiB = 1024 * 1024;

export interface TestBuild {
  readonly dir: string;
  readonly version: string;
  /** Uncompressed root (data + hash tree) and its gzip. */
  readonly rootImg: string;
  readonly rootGz: string;
  readonly rootHash: string;
  readonly hashOffset: number;
  readonly kernel: string;
  readonly initramfs: string;
  readonly cmdline: string;
}

/**
 * Root data of `dataBytes`: random (incompressible), a repeated random block (gzip shrinks it a lot), or
 * `'partly'`: like a real root filesystem to gzip (the update benchmark's), each 64 KiB a third random,
 * a third of bytes with 4 bits of entropy (Huffman-coded to about half) and the rest zero (free blocks).
 */
export async function makeBuild(dir: string, version: string, dataBytes: number, opts: { compressible?: boolean | 'partly' } = {}): Promise<TestBuild> {
  const rootImg = path.join(dir, 'root.img');
  const block = randomBytes(opts.compressible === true ? 64 * 1024 : dataBytes);
  const data = opts.compressible === true ? Buffer.concat(Array.from({ length: Math.ceil(dataBytes / block.length) }, (_, i) => {
    const b = Buffer.from(block);
    b.writeUInt32LE(i, 0); // every block differs a little, so a misplaced block cannot verify
    return b;
  })).subarray(0, dataBytes) : block;
  if (opts.compressible === 'partly') {
    for (let at = 0; at < data.length; at += 64 * 1024) {
      const low = data.subarray(at + 21 * 1024, Math.min(data.length, at + 42 * 1024));
      for (let i = 0; i < low.length; i++) low[i] = 0x40 | (low[i]! & 0x0f);
      data.fill(0, Math.min(data.length, at + 42 * 1024), Math.min(data.length, at + 64 * 1024));
    }
  }
  await writeFile(rootImg, data);
  const { stdout } = await execFileP('veritysetup', ['format', `--hash-offset=${dataBytes}`, rootImg, rootImg]);
  const rootHash = /Root hash:\s+([0-9a-f]+)/.exec(stdout)?.[1];
  if (!rootHash) throw new Error(`veritysetup format gave no root hash: ${stdout}`);
  const rootGz = `${rootImg}.gz`;
  await writeFile(rootGz, gzipSync(await readFile(rootImg), { level: 1 }));
  const kernel = path.join(dir, 'vmlinuz');
  const initramfs = path.join(dir, 'initrd.img');
  await writeFile(kernel, Buffer.concat([Buffer.from(`kernel ${version}\n`), randomBytes(100 * 1024)]));
  await writeFile(initramfs, Buffer.concat([Buffer.from(`initramfs ${version}\n`), randomBytes(200 * 1024)]));
  const cmdline = `console=ttyS0 root=/dev/mapper/vroot ro berth.verity=/dev/vda berth.roothash=${rootHash} berth.hashoffset=${dataBytes} quiet`;
  await writeFile(path.join(dir, 'cmdline'), `${cmdline}\n`);
  await writeFile(path.join(dir, 'image.env'), `ROOTHASH=${rootHash}\nHASH_OFFSET=${dataBytes}\nVERSION=${version}\n`);
  return { dir, version, rootImg, rootGz, rootHash, hashOffset: dataBytes, kernel, initramfs, cmdline };
}

export interface DiskSizes {
  readonly slotMib: number;
  readonly espMib?: number;
  readonly stateMib?: number;
}

/** image/disk.sh on a build: the disk with `build` in slot A. */
export async function makeDisk(build: TestBuild, out: string, sizes: DiskSizes): Promise<void> {
  await execFileP('bash', [
    path.join(REPO, 'image/disk.sh'), '--in', build.dir, '--out', out, '--version', build.version,
    '--slot-mib', String(sizes.slotMib), '--esp-mib', String(sizes.espMib ?? 40), '--state-mib', String(sizes.stateMib ?? 4),
  ]);
}

/** sha256 of a byte range of a file. */
export async function hashRange(file: string, offset: number, size: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(MiB);
    for (let pos = 0; pos < size; ) {
      const n = Math.min(buf.length, size - pos);
      const { bytesRead } = await fh.read(buf, 0, n, offset + pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}

/** Loop devices backed by `file` (none must be left behind). */
export async function loopsOf(file: string): Promise<string[]> {
  const { stdout } = await execFileP('losetup', ['--associated', file, '--noheadings', '--output', 'NAME', '--list']).catch(() => ({ stdout: '' }));
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** `veritysetup verify` of a region of a disk file, independently of the code under test. */
export async function verifyRegion(file: string, offset: number, size: number, hashOffset: number, rootHash: string): Promise<boolean> {
  const { stdout } = await execFileP('losetup', ['--find', '--show', '--read-only', '--offset', String(offset), '--sizelimit', String(size), file]);
  const dev = stdout.trim();
  try {
    await execFileP('veritysetup', ['verify', `--hash-offset=${hashOffset}`, dev, dev, rootHash]);
    return true;
  } catch {
    return false;
  } finally {
    await execFileP('losetup', ['--detach', dev]);
  }
}

export async function mtype(disk: string, espOffset: number, file: string): Promise<Buffer> {
  const { stdout } = await execFileP('mtype', ['-i', `${disk}@@${espOffset}`, file], { encoding: 'buffer', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, maxBuffer: 64 * MiB });
  return stdout;
}

export async function mdir(disk: string, espOffset: number, dir: string): Promise<string[]> {
  const { stdout } = await execFileP('mdir', ['-b', '-a', '-i', `${disk}@@${espOffset}`, dir], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map((l) => path.posix.basename(l.replace(/\/$/, ''))).sort();
}
