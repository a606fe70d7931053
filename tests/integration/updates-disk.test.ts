// Issue 17, the disk side of an update, end to end on GPT disk image files (no VM): image/disk.sh builds a
// small A/B disk with v1 in slot A; the disk installer writes v2 into slot B, verifies it with veritysetup,
// and only then makes its boot entry (`+3`) the default. Refusals (wrong root hash, an image bigger than
// the slot) and crashes (SIGKILL mid-write, and right before the commit) must leave the active slot byte for
// byte and the next boot's entry unchanged, and a later install must succeed. As root (loop devices).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { createDiskInstaller, readGpt, type InstallPlan, type InstallProgress } from '../../src/updates/disk/index.js';
import { hashRange, loopsOf, makeBuild, makeDisk, mdir, MiB, mtype, verifyRegion, type TestBuild } from '../support/disk-image.js';
import { processAlive, withDeadline } from '../support/wait.js';

const execFileP = promisify(execFile);
const CHILD = fileURLToPath(new URL('../support/disk-apply-child.js', import.meta.url));
const SLOT_MIB = 16;
const skip = process.getuid?.() !== 0 ? 'needs root (loop devices for veritysetup verify)' : false;

interface Fixture {
  readonly dir: string;
  readonly disk: string;
  readonly stateDir: string;
  readonly v1: TestBuild;
  readonly v2: TestBuild;
  readonly espOffset: number;
  readonly a: { offset: number; size: number };
  readonly b: { offset: number; size: number };
}

let root = '';
let n = 0;

async function fixture(v2Bytes = 6 * MiB, opts: { compressible?: boolean } = {}): Promise<Fixture> {
  const dir = path.join(root, `f${n++}`);
  await mkdir(path.join(dir, 'v1'), { recursive: true });
  await mkdir(path.join(dir, 'v2'), { recursive: true });
  const v1 = await makeBuild(path.join(dir, 'v1'), '1.0.0', 4 * MiB);
  const v2 = await makeBuild(path.join(dir, 'v2'), '2.0.0', v2Bytes, opts);
  const disk = path.join(dir, 'disk.img');
  await makeDisk(v1, disk, { slotMib: SLOT_MIB });
  const gpt = await readGpt(disk);
  const part = (name: string) => gpt.partitions.find((p) => p.name === name)!;
  return { dir, disk, stateDir: path.join(dir, 'state'), v1, v2, espOffset: part('BERTH-ESP').offset, a: part('BERTH-ROOT-A'), b: part('BERTH-ROOT-B') };
}

function planOf(b: TestBuild, over: Partial<InstallPlan> = {}): InstallPlan {
  return { version: b.version, rootImage: b.rootGz, kernel: b.kernel, initramfs: b.initramfs, rootHash: b.rootHash, hashOffset: b.hashOffset, ...over };
}

function installer(f: Fixture) {
  return createDiskInstaller({ disk: f.disk, stateDir: f.stateDir, activeFrom: 'esp', checkpointBytes: MiB });
}

async function install(f: Fixture, plan: InstallPlan): Promise<InstallProgress[]> {
  const seen: InstallProgress[] = [];
  await installer(f).install(plan, (p) => seen.push(p), new AbortController().signal);
  return seen;
}

/** What the next boot depends on: the entry files (names carry the counters), their text, loader.conf. */
async function bootState(f: Fixture): Promise<string> {
  const files = await mdir(f.disk, f.espOffset, '::/loader/entries');
  const texts = await Promise.all(files.filter((x) => !x.startsWith('.')).map(async (x) => `${x}\n${(await mtype(f.disk, f.espOffset, `::/loader/entries/${x}`)).toString()}`));
  return [...texts, (await mtype(f.disk, f.espOffset, '::/loader/loader.conf')).toString()].join('\n---\n');
}

/** Run the install in a child and SIGKILL it once it reports `stopAt` (`phase:fraction`). */
async function killDuring(f: Fixture, plan: InstallPlan, stopAt: string): Promise<string[]> {
  const child = spawn(process.execPath, [CHILD, f.disk, f.stateDir, JSON.stringify(plan), stopAt, '30000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await withDeadline(new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(line);
          if (line === 'stopped') resolve();
          if (line === 'done' || line.startsWith('error')) reject(new Error(`the child did not stop at ${stopAt}: ${line}`));
        }
      });
      child.once('exit', (code) => reject(new Error(`the child exited (${code}) before ${stopAt}: ${stderr}`)));
    }), 20_000, `the install to reach ${stopAt}`);
  } finally {
    if (child.pid && processAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
    await exited;
  }
  return lines;
}

describe('disk installer on a GPT disk image file', { skip }, () => {
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'berth-disk-test-'));
  });
  after(async () => {
    for (const f of await execFileP('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']).then((r) => r.stdout.split('\n'), () => [])) {
      const [dev, back] = f.trim().split(/\s+/);
      if (dev && back?.startsWith(root)) await execFileP('losetup', ['--detach', dev]).catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  });

  it('image/disk.sh lays out ESP, ROOT-A (v1, verifies), ROOT-B, STATE; the reader agrees with sgdisk', async () => {
    const f = await fixture();
    const gpt = await readGpt(f.disk);
    assert.deepEqual(gpt.partitions.map((p) => p.name), ['BERTH-ESP', 'BERTH-ROOT-A', 'BERTH-ROOT-B', 'BERTH-STATE']);
    for (const p of gpt.partitions) {
      const { stdout } = await execFileP('sgdisk', ['-i', String(p.number), f.disk]);
      assert.match(stdout, new RegExp(`First sector: ${p.firstLba} `));
      assert.match(stdout, new RegExp(`Last sector: ${p.lastLba} `));
      assert.match(stdout, new RegExp(`Partition unique GUID: ${p.guid}`));
      assert.match(stdout, new RegExp(`Partition GUID code: ${p.typeGuid}`));
    }
    assert.equal(gpt.partitions[0]!.typeGuid, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    assert.equal(f.a.size, SLOT_MIB * MiB);
    assert.ok(await verifyRegion(f.disk, f.a.offset, f.a.size, f.v1.hashOffset, f.v1.rootHash), 'slot A verifies against v1');
    assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf']);
    assert.deepEqual(await mtype(f.disk, f.espOffset, '::/berth/1.0.0/vmlinuz'), await readFile(f.v1.kernel));
    const entry = (await mtype(f.disk, f.espOffset, '::/loader/entries/berth-1.0.0.conf')).toString();
    assert.match(entry, /^options .*berth\.verity=\/dev\/disk\/by-partlabel\/BERTH-ROOT-A /m);
    assert.match(entry, new RegExp(`berth.roothash=${f.v1.rootHash} berth.hashoffset=${f.v1.hashOffset}$`, 'm'));
    assert.doesNotMatch(entry, /berth\.verity=\/dev\/vda/);
    const slots = await installer(f).slots();
    assert.equal(slots.active, 'A');
    assert.equal(slots.inactive, 'B');
    assert.equal(slots.defaultEntry?.file, 'berth-1.0.0.conf');
    // On a booted host the running kernel's command line names the active slot, whatever the ESP says.
    const cmdlinePath = path.join(f.dir, 'cmdline-running');
    await writeFile(cmdlinePath, 'ro berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-B berth.roothash=00\n');
    const host = await createDiskInstaller({ disk: f.disk, stateDir: f.stateDir, activeFrom: 'cmdline', cmdlinePath }).slots();
    assert.deepEqual([host.active, host.inactive, host.activeFrom], ['B', 'A', 'cmdline']);
    await writeFile(cmdlinePath, 'ro root=/dev/vda1\n');
    await assert.rejects(createDiskInstaller({ disk: f.disk, stateDir: f.stateDir, activeFrom: 'cmdline', cmdlinePath }).slots(), /names no berth root slot/);
  });

  it('a corrupted partition table is refused, naming the disk', async () => {
    const f = await fixture();
    const fh = await import('node:fs/promises').then((m) => m.open(f.disk, 'r+'));
    await fh.write(Buffer.from('X'), 0, 1, 1024 + 56); // first entry's name, inside the CRC'd array
    await fh.close();
    await assert.rejects(installer(f).slots(), new RegExp(`${f.disk.replace(/[.]/g, '\\.')}: GPT partition array CRC does not match`));
  });

  it('apply v2: slot B verifies, the ESP holds berth-2.0.0+3.conf as the default, slot A is untouched byte for byte', async () => {
    const f = await fixture();
    const aBefore = await hashRange(f.disk, f.a.offset, f.a.size);
    const seen: InstallProgress[] = [];
    const inst = installer(f);
    const running = inst.install(planOf(f.v2), (p) => seen.push(p), new AbortController().signal);
    await assert.rejects(inst.install(planOf(f.v2), () => undefined, new AbortController().signal), /an install or rollback on .* is already running/);
    await running;
    assert.equal(await hashRange(f.disk, f.a.offset, f.a.size), aBefore, 'slot A unchanged');
    assert.ok(await verifyRegion(f.disk, f.b.offset, f.b.size, f.v2.hashOffset, f.v2.rootHash), 'slot B verifies against v2');
    assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+3.conf']);
    const entry = (await mtype(f.disk, f.espOffset, '::/loader/entries/berth-2.0.0+3.conf')).toString();
    assert.match(entry, /^sort-key berth$/m);
    assert.match(entry, /^version 2$/m, 'the next install generation');
    assert.match(entry, /^linux \/berth\/2\.0\.0\/vmlinuz$/m);
    assert.match(entry, new RegExp(`^options console=ttyS0 root=/dev/mapper/vroot ro quiet berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-B berth.roothash=${f.v2.rootHash} berth.hashoffset=${f.v2.hashOffset}$`, 'm'));
    assert.deepEqual(await mtype(f.disk, f.espOffset, '::/berth/2.0.0/vmlinuz'), await readFile(f.v2.kernel));
    assert.deepEqual(await mtype(f.disk, f.espOffset, '::/berth/2.0.0/initrd.img'), await readFile(f.v2.initramfs));
    const slots = await installer(f).slots();
    assert.equal(slots.defaultEntry?.file, 'berth-2.0.0+3.conf');
    assert.equal(slots.defaultEntry?.state, 'trying');
    assert.equal(slots.active, 'B', 'a disk file\'s active slot is its next boot\'s');
    assert.deepEqual(seen.map((p) => p.phase).filter((p, i, all) => all[i - 1] !== p), ['prepare', 'write', 'verify', 'esp', 'commit']);
    const writes = seen.filter((p) => p.phase === 'write');
    assert.equal(writes.at(-1)!.done, (await stat(f.v2.rootImg)).size);
    assert.equal(writes.at(-1)!.total, writes.at(-1)!.done);
    assert.deepEqual(await loopsOf(f.disk), [], 'no loop device left attached');
    await assert.rejects(stat(path.join(f.stateDir, 'slot-write.json')), /ENOENT/, 'the resume record is gone after the commit');
  });

  it('a wrong root hash is refused after the write, and the next boot is unchanged', async () => {
    const f = await fixture();
    const aBefore = await hashRange(f.disk, f.a.offset, f.a.size);
    const bootBefore = await bootState(f);
    const wrong = f.v2.rootHash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    await assert.rejects(install(f, planOf(f.v2, { rootHash: wrong })), /does not verify against root hash/);
    assert.equal(await bootState(f), bootBefore);
    assert.equal(await hashRange(f.disk, f.a.offset, f.a.size), aBefore);
    assert.deepEqual(await mdir(f.disk, f.espOffset, '::/berth'), ['1.0.0'], 'no kernel of the refused version (staged beside the verify, then removed)');
    assert.deepEqual((await mdir(f.disk, f.espOffset, '::/loader/entries')).filter((x) => x.startsWith('.')), [], 'no hidden staged entry left');
    assert.deepEqual(await loopsOf(f.disk), []);
    // Bad input is named before anything is touched.
    await assert.rejects(install(f, planOf(f.v2, { rootHash: 'xyz' })), /rootHash "xyz" is invalid/);
    await assert.rejects(install(f, planOf(f.v2, { version: '2+1' })), /version "2\+1" is invalid/);
    await assert.rejects(install(f, planOf(f.v2, { hashOffset: 100 })), /hashOffset 100 is invalid/);
    await assert.rejects(install(f, planOf(f.v2, { kernel: '/nonexistent' })), /kernel \/nonexistent cannot be read/);
    await assert.rejects(install(f, planOf(f.v1)), /version 1\.0\.0 is already installed in the active slot A/);
  });

  it('an image bigger than the slot is refused before anything is written', async () => {
    const f = await fixture(SLOT_MIB * MiB - 64 * 1024, { compressible: true }); // the data fits the slot, the hash tree does not
    const bBefore = await hashRange(f.disk, f.b.offset, f.b.size);
    const bootBefore = await bootState(f);
    await assert.rejects(install(f, planOf(f.v2)), /is bigger than slot B \(16777216 bytes\); nothing was written/);
    assert.equal(await hashRange(f.disk, f.b.offset, f.b.size), bBefore);
    assert.equal(await bootState(f), bootBefore);
  });

  it('an image whose gzip size field hides its size stops at the slot end, never writing past it', async () => {
    const f = await fixture(SLOT_MIB * MiB - 64 * 1024, { compressible: true });
    // Two gzip members: the trailer's size field is the tiny second one's.
    await writeFile(f.v2.rootGz, Buffer.concat([gzipSync(await readFile(f.v2.rootImg), { level: 1 }), gzipSync(Buffer.alloc(10))]));
    const after = f.b.offset + f.b.size;
    const nextBefore = await hashRange(f.disk, after, 4 * MiB);
    const bootBefore = await bootState(f);
    await assert.rejects(install(f, planOf(f.v2)), /is bigger than slot B \(16777216 bytes\); stopped at the slot's end/);
    assert.equal(await hashRange(f.disk, after, 4 * MiB), nextBefore, 'the partition after slot B is untouched');
    assert.equal(await bootState(f), bootBefore);
  });

  it('SIGKILL half way through the write: slot A and the next boot unchanged; the next apply resumes and succeeds', async () => {
    const f = await fixture(12 * MiB, { compressible: true });
    const aBefore = await hashRange(f.disk, f.a.offset, f.a.size);
    const bootBefore = await bootState(f);
    const lines = await killDuring(f, planOf(f.v2), 'write:0.5');
    assert.ok(lines.some((l) => l.includes('"phase":"write"')), 'the child was writing when killed');
    assert.equal(await hashRange(f.disk, f.a.offset, f.a.size), aBefore);
    assert.equal(await bootState(f), bootBefore);
    assert.equal((await installer(f).slots()).defaultEntry?.file, 'berth-1.0.0.conf');
    const seen = await install(f, planOf(f.v2));
    const firstWrite = seen.find((p) => p.phase === 'write');
    assert.ok(firstWrite && firstWrite.done >= 0.3 * firstWrite.total, `resumed from a checkpoint, not from 0 (first progress ${JSON.stringify(firstWrite)})`);
    assert.ok(await verifyRegion(f.disk, f.b.offset, f.b.size, f.v2.hashOffset, f.v2.rootHash));
    assert.equal((await installer(f).slots()).defaultEntry?.file, 'berth-2.0.0+3.conf');
    assert.equal(await hashRange(f.disk, f.a.offset, f.a.size), aBefore);
    assert.deepEqual(await loopsOf(f.disk), []);
  });

  it('an unpacked image (what the updater stages) is copied: SIGKILL half way, the next apply reads on from its checkpoint', async () => {
    const f = await fixture(12 * MiB, { compressible: true });
    const plan = planOf(f.v2, { rootImage: f.v2.rootImg });
    const aBefore = await hashRange(f.disk, f.a.offset, f.a.size);
    const bootBefore = await bootState(f);
    await killDuring(f, plan, 'write:0.5');
    assert.equal(await hashRange(f.disk, f.a.offset, f.a.size), aBefore);
    assert.equal(await bootState(f), bootBefore);
    const { written } = JSON.parse(await readFile(path.join(f.stateDir, 'slot-write.json'), 'utf8')) as { written: number };
    assert.ok(written > 0, 'a checkpoint was recorded before the kill');
    // Proof that the copy goes on from the checkpoint: spoil the image's first byte (already in the slot)
    // and keep its timestamps, so the resume is still taken. A resumed copy never writes it again; a copy
    // from 0 would, and the slot would not verify.
    const stamp = path.join(f.dir, 'stamp');
    await writeFile(stamp, '');
    await execFileP('touch', ['-r', f.v2.rootImg, stamp]);
    const fh = await open(f.v2.rootImg, 'r+');
    const first = Buffer.alloc(1);
    await fh.read(first, 0, 1, 0);
    await fh.write(Buffer.from([first[0]! ^ 0xff]), 0, 1, 0);
    await fh.close();
    await execFileP('touch', ['-r', stamp, f.v2.rootImg]);
    const seen = await install(f, plan);
    const writes = seen.filter((p) => p.phase === 'write');
    assert.equal(writes[0]?.done, written, 'the resumed copy starts at the recorded checkpoint');
    assert.equal(writes.at(-1)!.done, (await stat(f.v2.rootImg)).size);
    assert.equal(writes.at(-1)!.total, writes.at(-1)!.done, 'an unpacked image\'s total is exact from the start');
    assert.ok(await verifyRegion(f.disk, f.b.offset, f.b.size, f.v2.hashOffset, f.v2.rootHash));
    assert.equal((await installer(f).slots()).defaultEntry?.file, 'berth-2.0.0+3.conf');
    assert.equal(await hashRange(f.disk, f.a.offset, f.a.size), aBefore);
    assert.deepEqual(await loopsOf(f.disk), []);
  });

  it('an unpacked image bigger than the slot is refused before anything is written', async () => {
    const f = await fixture(SLOT_MIB * MiB - 64 * 1024, { compressible: true });
    const bBefore = await hashRange(f.disk, f.b.offset, f.b.size);
    await assert.rejects(install(f, planOf(f.v2, { rootImage: f.v2.rootImg })), /\(\d+ bytes\) is bigger than slot B \(16777216 bytes\); nothing was written/);
    assert.equal(await hashRange(f.disk, f.b.offset, f.b.size), bBefore);
  });

  it('a zstd image is inflated on the way; a truncated one is refused naming zstd, and the next boot is unchanged', async () => {
    const f = await fixture(6 * MiB, { compressible: true });
    const zst = `${f.v2.rootImg}.zst`;
    await execFileP('zstd', ['-q', '-1', f.v2.rootImg, '-o', zst]);
    const bootBefore = await bootState(f);
    const cut = `${zst}.cut`;
    const whole = await readFile(zst);
    await writeFile(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    await assert.rejects(install(f, planOf(f.v2, { rootImage: cut })), /is not a valid zstd stream: zstd exited 1/);
    assert.equal(await bootState(f), bootBefore);
    assert.deepEqual(await loopsOf(f.disk), []);
    await install(f, planOf(f.v2, { rootImage: zst }));
    assert.ok(await verifyRegion(f.disk, f.b.offset, f.b.size, f.v2.hashOffset, f.v2.rootHash));
    assert.equal((await installer(f).slots()).defaultEntry?.file, 'berth-2.0.0+3.conf');
  });

  it('SIGKILL with the entry staged but not committed: the next boot is unchanged; the next apply succeeds', async () => {
    const f = await fixture();
    const bootBefore = await bootState(f);
    await killDuring(f, planOf(f.v2), 'esp:1');
    assert.equal(await bootState(f), bootBefore, 'the staged entry is invisible to systemd-boot');
    assert.deepEqual((await mdir(f.disk, f.espOffset, '::/loader/entries')).filter((x) => x.startsWith('.')), ['.berth-2.0.0+3.conf.tmp']);
    await install(f, planOf(f.v2));
    assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+3.conf']);
    assert.ok(await verifyRegion(f.disk, f.b.offset, f.b.size, f.v2.hashOffset, f.v2.rootHash));
  });

  it('a third version replaces the slot that is not the next boot\'s, removing its old entry first; a pinned downgrade still becomes the default', async () => {
    const f = await fixture();
    await install(f, planOf(f.v2));
    // The disk now boots v2 from B: v3 goes to A, and v1's entry (which boots A) must go before A changes.
    await mkdir(path.join(f.dir, 'v3'));
    const v0 = await makeBuild(path.join(f.dir, 'v3'), '0.9.0', 5 * MiB);
    const bBefore = await hashRange(f.disk, f.b.offset, f.b.size);
    await install(f, planOf(v0));
    assert.equal(await hashRange(f.disk, f.b.offset, f.b.size), bBefore);
    assert.ok(await verifyRegion(f.disk, f.a.offset, f.a.size, v0.hashOffset, v0.rootHash));
    assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-0.9.0+3.conf', 'berth-2.0.0+3.conf']);
    assert.deepEqual(await mdir(f.disk, f.espOffset, '::/berth'), ['0.9.0', '2.0.0'], 'v1\'s kernel dir went with its entry');
    const slots = await installer(f).slots();
    assert.equal(slots.defaultEntry?.version, '0.9.0', 'the newest install boots next, even when its version is lower');
    assert.equal(slots.defaultEntry?.generation, 3);
  });

  it('rollback makes the previous good version the next boot by marking the current one bad; without a good one it is refused', async () => {
    const f = await fixture();
    await install(f, planOf(f.v2));
    const inst = installer(f);
    const r = await inst.rollback();
    assert.equal(r.from.file, 'berth-2.0.0+3.conf');
    assert.equal(r.to.file, 'berth-1.0.0.conf');
    assert.deepEqual(await mdir(f.disk, f.espOffset, '::/loader/entries'), ['berth-1.0.0.conf', 'berth-2.0.0+0.conf']);
    const slots = await inst.slots();
    assert.equal(slots.defaultEntry?.file, 'berth-1.0.0.conf');
    assert.equal(slots.active, 'A');
    assert.equal(slots.entries.find((e) => e.version === '2.0.0')?.state, 'bad');
    await assert.rejects(inst.rollback(), /no previous good version to roll back to \(next boot: berth-1\.0\.0\.conf; other entries: berth-2\.0\.0\+0\.conf\)/);
  });
});
