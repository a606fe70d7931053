import { spawn } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { importArchive } from '../../src/images/import.js';
import { TestBerthd } from '../../tests/support/berthd.js';
import { busyboxArchive } from '../../tests/support/images.js';
import { hostUnit, IDLE } from '../../tests/support/units.js';
import { median, nowMs, type Row } from '../stats.js';
import type { BenchContext } from '../context.js';

/** The package root, from dist/bench/scenarios/. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TIME = '/usr/bin/time';

/** The `berthctl` that package.json ships (its `bin` entry), as an absolute path. */
async function berthctlBin(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  return path.join(ROOT, pkg.bin['berthctl']!);
}

/** Runs a command to its end; resolves with its wall time in ms. Fails on a non-zero exit. */
function timed(cmd: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = nowMs();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = nowMs() - t;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${stderr}`));
    });
  });
}

/** Peak RSS in MB of one run, from GNU time; undefined when it is not installed. */
async function peakRssMb(cmd: string, args: readonly string[]): Promise<number | undefined> {
  try {
    await access(TIME);
  } catch {
    return undefined;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ['-f', '%M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const kb = Number(stderr.trim().split('\n').at(-1));
      resolve(Number.isFinite(kb) ? kb / 1024 : undefined);
    });
  });
}

/**
 * P8 (issue 16): berthctl's one-shot commands as whole processes against a running berthd, beside `node -e 0`
 * (the floor of any Node program) and `ctr version` against the bench's containerd, all interleaved in one
 * run so the machine's load falls on each alike. berthctl runs as an operator runs it: the executable that
 * package.json's `bin` names, through its `#!` line. The ratio column is to `node -e 0` started the same way:
 * that line drops NODE_EXTRA_CA_CERTS (berthctl never speaks TLS), which alone costs a Node start ~35 ms of
 * reading certificates, so where the environment sets it the floor is measured without it too, and both
 * floors are shown.
 */
export async function cliScenarios(ctx: BenchContext): Promise<Row[]> {
  const ns = 'berth';
  const client = ctx.containerd.client(ns);
  await importArchive(client, await busyboxArchive(), { namespace: ns });
  const b = await TestBerthd.create({ containerd: ctx.containerd, units: { one: hostUnit('one', IDLE) } });
  try {
    await b.start();
    const bin = await berthctlBin();
    const cli = (...args: string[]): [string, string[]] => [bin, ['--socket', b.socket, ...args]];
    const commands: Record<string, [string, string[]]> = {
      units: cli('units'),
      'get images.pull-policy': cli('get', 'images.pull-policy'),
      // The value it has already: a full Set round trip that changes nothing.
      'set images.pull-policy=if-not-present': cli('set', 'images.pull-policy=if-not-present'),
      'status one': cli('status', 'one'),
    };
    const node: [string, string[]] = [process.execPath, ['-e', '0']];
    const caCerts = process.env['NODE_EXTRA_CA_CERTS'] !== undefined;
    // The same Node with the variable removed, as berthctl's `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node`.
    const nodeBare: [string, string[]] = ['env', ['-u', 'NODE_EXTRA_CA_CERTS', process.execPath, '-e', '0']];
    const ctr: [string, string[]] = ['ctr', ['-a', ctx.containerd.socket, 'version']];
    const baselines: [string, [string, string[]]][] = [['node', node], ...(caCerts ? [['node-bare', nodeBare] as [string, [string, string[]]]] : []), ['ctr', ctr]];

    const runs = ctx.opts.smoke ? 1 : Math.max(20, ctx.opts.iterations);
    const samples = new Map<string, number[]>([...baselines.map(([k]) => [k, []] as [string, number[]]), ...Object.keys(commands).map((k) => [k, []] as [string, number[]])]);
    for (let i = 0; i < ctx.opts.warmup + runs; i++) {
      const measure = i >= ctx.opts.warmup;
      for (const [name, [cmd, args]] of [...baselines, ...Object.entries(commands)]) {
        const ms = await timed(cmd, args);
        if (measure) samples.get(name)!.push(ms);
      }
    }

    const floorName = caCerts ? 'node -e 0 (no NODE_EXTRA_CA_CERTS)' : 'node -e 0';
    const floor = samples.get(caCerts ? 'node-bare' : 'node')!;
    const nodeMs = median(floor);
    const rows: Row[] = [];
    for (const name of Object.keys(commands)) {
      const s = samples.get(name)!;
      const ms = median(s);
      rows.push({ scenario: `P8 berthctl ${name} (whole process)`, berth: ms, baseline: nodeMs, baselineName: floorName, unit: 'ms', target: '≤ 100 ms', met: ms <= 100, samples: { berth: s, baseline: floor } });
    }
    const c = samples.get('ctr')!;
    rows.push({ scenario: 'P8 for comparison: ctr version (whole process)', berth: median(c), baseline: nodeMs, baselineName: floorName, unit: 'ms', target: 'informational', met: true, samples: { berth: c, baseline: floor } });
    if (caCerts) {
      const n = samples.get('node')!;
      rows.push({ scenario: 'P8 for comparison: node -e 0 with this environment\'s NODE_EXTRA_CA_CERTS', berth: median(n), baseline: nodeMs, baselineName: floorName, unit: 'ms', target: 'informational', met: true, samples: { berth: n, baseline: floor } });
    }
    for (const [name, [cmd, args]] of Object.entries(commands)) {
      const mb = await peakRssMb(cmd, args);
      if (mb !== undefined) rows.push({ scenario: `P8 berthctl ${name} peak RSS`, berth: mb, unit: 'MB', target: 'informational', met: true });
    }
    return rows;
  } finally {
    await b.stop();
    const lc = new ContainerLifecycle(client, ns);
    for (const c of await client.listContainers()) await lc.remove(c.id);
    client.close();
  }
}
