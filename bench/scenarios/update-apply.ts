// Issue 17 (Bench): `update apply` throughput. A real berthd with `--boot-disk <GPT disk image file>` takes a
// signed update from a berth-repo repository served on 127.0.0.1, as an operator runs it (API Updates.Apply,
// what `berthctl update apply` calls), timed from the Apply call to `ready`:
//   - of a staged update (the download done, as after `update cancel` from ready, or Bottlerocket's
//     prepare-update then activate-update): the bytes written into the slot and verified (copy into slot B,
//     `veritysetup verify`, ESP boot entry). This is the row with the target: it does what the yardstick does.
//   - from the repository: the above after the download, sha256 check (tuf-js) and unpacking, which run in
//     one pass (the unpacked image is staged on the state disk). Informational: the yardstick downloads nothing.
// The yardstick, in the same run and interleaved with both: `dd` of the uncompressed image into the same slot
// of the same disk file, then `veritysetup verify` of that slot. MB/s = uncompressed image bytes (data + hash
// tree) / seconds.
//
// Page cache, the same for both sides: nothing is dropped. Every source file (the staged image, the
// uncompressed image dd reads) was just written, so both read from the cache; both overwrite the same slot B,
// which the previous iteration's other side left cached; both make the slot durable before verifying it
// (berth: fdatasync at its 64 MiB checkpoints and at the end; dd: conv=fdatasync, once at the end), as an
// installer must before a boot entry points at the slot; both verify through a read-only loop device over
// the file.
//
// Each iteration: apply from the repository; `update cancel` (ready → staged) and apply again (staged →
// ready); two `update cancel`s (ready → staged → available; the second removes the download, so the next
// iteration downloads again); the yardstick.
import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BerthClient } from '../../src/cli/client.js';
import { readGpt } from '../../src/updates/disk/index.js';
import { makeBuild, makeDisk, MiB } from '../../tests/support/disk-image.js';
import { TestBerthd } from '../../tests/support/berthd.js';
import { mustRepo, publish, serveStatic } from '../../tests/support/update-repo.js';
import { median, nowMs, type Row } from '../stats.js';
import type { BenchContext } from '../context.js';

const execFileP = promisify(execFile);
const MB = 1e6;

/** One apply through berthd: total ms and the ms of each progress phase berthd reported (sampled every 50 ms). */
async function applyOnce(c: BerthClient): Promise<{ ms: number; phases: Map<string, number> }> {
  const seen: { phase: string; at: number }[] = [];
  const t0 = nowMs();
  await c.updates.apply();
  const deadline = t0 + 600_000;
  for (;;) {
    const s = await c.updates.status();
    const phase = s.operation?.progress?.phase;
    if (phase && seen.at(-1)?.phase !== phase) seen.push({ phase, at: nowMs() });
    if (!s.operation) {
      if (s.state !== 'ready') throw new Error(`update apply ended in ${s.state}: ${s.lastError?.message ?? 'no error recorded'}`);
      break;
    }
    if (nowMs() > deadline) throw new Error('update apply did not reach ready within 600 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const ms = nowMs() - t0;
  const phases = new Map<string, number>();
  seen.forEach((p, i) => phases.set(p.phase, (phases.get(p.phase) ?? 0) + ((seen[i + 1]?.at ?? t0 + ms) - p.at)));
  if (seen[0]) phases.set('(before the first phase)', seen[0].at - t0);
  return { ms, phases };
}

/** dd of the image into the slot, then veritysetup verify of the slot through a read-only loop device. */
async function yardstickOnce(o: { image: string; disk: string; offset: number; size: number; hashOffset: number; rootHash: string }): Promise<{ ms: number; dd: number; verify: number }> {
  const t0 = nowMs();
  await execFileP('dd', [`if=${o.image}`, `of=${o.disk}`, 'bs=1M', `seek=${o.offset}`, 'oflag=seek_bytes', 'conv=notrunc,fdatasync', 'status=none']);
  const t1 = nowMs();
  const { stdout } = await execFileP('losetup', ['--find', '--show', '--read-only', '--offset', String(o.offset), '--sizelimit', String(o.size), o.disk]);
  const dev = stdout.trim();
  try {
    await execFileP('veritysetup', ['verify', `--hash-offset=${o.hashOffset}`, dev, dev, o.rootHash]);
  } finally {
    await execFileP('losetup', ['--detach', dev]);
  }
  const t2 = nowMs();
  return { ms: t2 - t0, dd: t1 - t0, verify: t2 - t1 };
}

export async function updateApplyScenario(ctx: BenchContext): Promise<Row[]> {
  // BENCH_UPDATE_MIB: the root data's size (default 512 MiB; smoke 64 MiB).
  const dataMib = Number(process.env.BENCH_UPDATE_MIB ?? (ctx.opts.smoke ? 64 : 512));
  if (!Number.isInteger(dataMib) || dataMib < 4) throw new Error(`BENCH_UPDATE_MIB=${process.env.BENCH_UPDATE_MIB}: a whole number of MiB, at least 4`);
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-update-'));
  let server: Awaited<ReturnType<typeof serveStatic>> | undefined;
  let bd: TestBerthd | undefined;
  let client: BerthClient | undefined;
  try {
    await mkdir(path.join(work, 'v1'));
    await mkdir(path.join(work, 'v2'));
    const v1 = await makeBuild(path.join(work, 'v1'), '1.0.0', 4 * MiB);
    const v2 = await makeBuild(path.join(work, 'v2'), '2.0.0', dataMib * MiB, { compressible: 'partly' });
    const imageBytes = (await stat(v2.rootImg)).size;
    const disk = path.join(work, 'disk.img');
    await makeDisk(v1, disk, { slotMib: Math.ceil(imageBytes / MiB) + 8 });
    const slotB = (await readGpt(disk)).partitions.find((p) => p.name === 'BERTH-ROOT-B');
    if (!slotB) throw new Error(`${disk}: no BERTH-ROOT-B partition`);
    const repo = path.join(work, 'repo');
    await mustRepo(['init', repo]);
    // Packed as the image build's root is published (image/vm-update-test.sh): zstd -3. BENCH_UPDATE_PACKING=gzip
    // publishes the gzip -1 one instead.
    const packing = process.env.BENCH_UPDATE_PACKING ?? 'zstd';
    if (packing !== 'zstd' && packing !== 'gzip') throw new Error(`BENCH_UPDATE_PACKING=${packing}: zstd or gzip`);
    const packed = packing === 'gzip' ? v2.rootGz : `${v2.rootImg}.zst`;
    if (packing === 'zstd') await execFileP('zstd', ['-q', '-T0', '-3', v2.rootImg, '-o', packed]);
    await publish(repo, { version: '2.0.0', rootImage: packed, kernel: v2.kernel, initramfs: v2.initramfs, rootHash: v2.rootHash, hashOffset: v2.hashOffset });
    server = await serveStatic(repo);

    const cmdline = path.join(work, 'cmdline');
    await writeFile(cmdline, 'root=/dev/mapper/vroot berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A ro\n');
    const osRelease = path.join(work, 'os-release');
    await writeFile(osRelease, 'NAME=berth\nVERSION_ID=1.0.0\nVARIANT_ID=metal\n');
    bd = await TestBerthd.create({
      containerd: ctx.containerd,
      extraArgs: ['--os-release', osRelease, '--update-trusted-root', path.join(repo, 'metadata/1.root.json'), '--boot-disk', disk, '--kernel-cmdline', cmdline],
    });
    await appendFile(bd.settingsDefaults, [
      '[settings.updates]', `metadata-base-url = "${server.url}/metadata"`, `targets-base-url = "${server.url}/targets"`,
      'ignore-waves = true', 'reboot-command = "true"', '',
    ].join('\n'));
    await bd.start(60_000);
    client = BerthClient.connect({ socketPath: bd.socket });
    const checked = await client.updates.check();
    if (checked.state !== 'available') throw new Error(`update check: ${checked.state} (${checked.lastCheckReason ?? ''})`);

    const full: number[] = [];
    const staged: number[] = [];
    const yard: number[] = [];
    const phases = new Map<string, number[]>();
    const stagedPhases = new Map<string, number[]>();
    const ydd: number[] = [];
    const yverify: number[] = [];
    const c = client;
    const cancel = async (want: string) => {
      const state = (await c.updates.cancel()).state;
      if (state !== want) throw new Error(`update cancel went to ${state}, not ${want}`);
    };
    const target = { image: v2.rootImg, disk, offset: slotB.offset, size: slotB.size, hashOffset: v2.hashOffset, rootHash: v2.rootHash };
    for (let i = 0; i < ctx.opts.warmup + ctx.opts.iterations; i++) {
      const fromRepo = await applyOnce(c);
      await cancel('staged');
      const ofStaged = await applyOnce(c);
      await cancel('staged');
      await cancel('available');
      const y = await yardstickOnce(target);
      if (i < ctx.opts.warmup) continue;
      full.push(fromRepo.ms);
      staged.push(ofStaged.ms);
      for (const [p, ms] of fromRepo.phases) phases.set(p, [...(phases.get(p) ?? []), ms]);
      for (const [p, ms] of ofStaged.phases) stagedPhases.set(p, [...(stagedPhases.get(p) ?? []), ms]);
      yard.push(y.ms);
      ydd.push(y.dd);
      yverify.push(y.verify);
    }
    const rate = (ms: number): number => imageBytes / MB / (ms / 1000);
    const yRate = rate(median(yard));
    const sRate = rate(median(staged));
    const mib = `${(imageBytes / MiB).toFixed(0)} MiB`;
    const yardName = 'dd conv=fdatasync + veritysetup verify, this run';
    const info = (scenario: string, ms: number): Row => ({ scenario, berth: ms, unit: 'ms', target: 'informational', met: true });
    const phaseRows = (label: string, m: Map<string, number[]>): Row[] =>
      [...m].map(([p, ms]) => info(`update apply ${label}: phase ${p} (berthd's progress, sampled)`, median(ms)));
    const packedPct = (((await stat(packed)).size / imageBytes) * 100).toFixed(0);
    return [
      {
        scenario: `update apply of a staged update: berthd --boot-disk FILE, Apply → ready (copy into the slot, veritysetup verify, boot entry), ${mib} image`,
        berth: sRate, baseline: yRate, baselineName: yardName, unit: 'MB/s',
        target: '≥ 0.8× dd + verify', met: sRate >= 0.8 * yRate,
        samples: { berth: staged.map(rate), baseline: yard.map(rate) },
      },
      {
        scenario: `update apply from the repository: download + sha256 + unpack (${packing} to ${packedPct} %, 127.0.0.1), then the above`,
        berth: rate(median(full)), baseline: yRate, baselineName: `${yardName}; it downloads nothing`, unit: 'MB/s', target: 'informational', met: true,
        samples: { berth: full.map(rate), baseline: yard.map(rate) },
      },
      ...phaseRows('from the repository', phases),
      ...phaseRows('of a staged update', stagedPhases),
      info('update apply yardstick: dd conv=fdatasync', median(ydd)),
      info('update apply yardstick: losetup + veritysetup verify', median(yverify)),
    ];
  } finally {
    client?.close();
    await bd?.stop();
    await server?.close();
    await rm(work, { recursive: true, force: true });
  }
}
