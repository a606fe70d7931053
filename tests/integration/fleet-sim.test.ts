// `npm run fleet-sim -- --quick` end to end (issue 19's scale simulation, bench/fleet-sim/): its own 3-member
// etcd, 50 simulated hosts running the real fleet code in worker processes, every figure measured. The
// figures' values are not judged here (a loaded CI machine says little); that each is a finite number, and
// that the sim stopped everything it started, is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/fleet-sim/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sim(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Past the deadline: SIGTERM, on which the sim stops its etcd members and workers by PID.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** PIDs of etcd processes whose command line names `dir` (found through /proc: never by pattern-kill). */
async function etcdPidsUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('etcd') && cmd.includes(dir)) pids.push(Number(entry));
  }
  return pids;
}

test('fleet-sim --quick runs end to end: every figure is a finite number, and nothing it started is left', { timeout: 90_000 }, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-sim-test-'));
  try {
    const out = path.join(dir, 'fleet-sim.json');
    const run = await sim(['--quick', '--out', out], 80_000);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /settings change → every host reports it/);
    assert.match(run.stdout, /reboot-slot throughput/);
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      options: { hosts: number; quick: boolean };
      figures: Record<string, Record<string, unknown>>;
      rebootSlots: { measured: boolean; note?: string; slotsPerSecond?: number };
    };
    assert.equal(report.options.hosts, 50);
    const groups = ['registration', 'settingsPropagation', 'atRest', 'memory', 'etcd'];
    assert.deepEqual(Object.keys(report.figures).sort(), [...groups].sort());
    for (const g of groups) {
      const entries = Object.entries(report.figures[g]!);
      assert.ok(entries.length > 0, g);
      for (const [k, v] of entries) assert.ok(typeof v === 'number' && Number.isFinite(v), `${g}.${k} = ${String(v)}`);
    }
    const f = report.figures as Record<string, Record<string, number>>;
    assert.ok(f['registration']!['allHostsMs']! > 0);
    assert.ok(f['atRest']!['leaseKeepAlivesPerHostPerMinute']! > 0, 'etcd counted the hosts\' lease keepalives');
    assert.ok(f['etcd']!['watchers']! >= 50, 'one settings watch per host');
    assert.ok(f['etcd']!['openLeaseKeepAliveStreams']! >= 50, 'one keepalive stream per host');
    assert.equal(report.rebootSlots.measured, true, report.rebootSlots.note);
    assert.ok(Number.isFinite(report.rebootSlots.slotsPerSecond) && (report.rebootSlots.slotsPerSecond ?? 0) > 0);
    // The sim's etcd members ran under a `betcd-` temp dir that is gone now, and no etcd process names one of
    // the ports it printed.
    const ports = [...run.stderr.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!);
    assert.equal(ports.length, 3, run.stderr);
    for (const port of ports) assert.deepEqual(await etcdPidsUnder(`127.0.0.1:${port}`), [], `an etcd on port ${port} is still running`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('fleet-sim refuses a bad flag, naming it', async () => {
  const bad = await sim(['--hosts', 'many'], 20_000);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--hosts: expected a whole number from 1 to 100000, got "many"/);
  const unknown = await sim(['--hostz', '5'], 20_000);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--hostz/);
});

