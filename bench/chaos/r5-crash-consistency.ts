// R5: crash consistency of berthd's persisted state. A child process commits numbered changes as fast as it
// can and is SIGKILLed at a random instant (half the rounds anywhere from spawn — start-up, load, temp-file
// clean-up —, half just after it started committing, to hit the write/fsync/rename window); then the state
// must load and hold exactly the last commit the child reported, or the one in flight — never an older
// one, a torn file or a load error. Three stores, each its own lane, run side by side:
//   settings      tests/support/settings-crash-child (the SettingsStore)
//   workload list bench/chaos/children/workloads-crash-child (src/workloads/store.ts)
//   once markers  bench/chaos/children/markers-crash-child (bootstrapMarkers().mark)
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SettingsStore } from '../../src/settings/index.js';
import { WorkloadStore } from '../../src/workloads/store.js';
import { bootstrapMarkers } from '../../src/daemon/bootstrap-markers.js';
import type { UnitSpec } from '../../src/units/types.js';
import type { ChaosEnv } from './env.js';
import { now, pause, prng, Tally, type Row } from './lib.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SETTINGS_CHILD = path.resolve(HERE, '../../tests/support/settings-crash-child.js');
const WORKLOADS_CHILD = path.resolve(HERE, 'children/workloads-crash-child.js');
const MARKERS_CHILD = path.resolve(HERE, 'children/markers-crash-child.js');
const DEFAULTS = path.resolve(HERE, '../../../rootfs/usr/share/berth/settings.toml');

interface Outcome {
  startedAt: number | undefined;
  lastReported: number | undefined;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Spawn the child, SIGKILL it (by PID, via ChildProcess.kill) at a random instant, wait until it is gone. */
async function runChild(args: string[], random: () => number): Promise<Outcome> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
  try {
    if (random() < 0.5) {
      await pause(random() * 250);
    } else {
      // Until the child says it is committing (or is gone), bounded by its own max run time.
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (stdout.includes('\n')) resolve();
        };
        child.stdout.on('data', check);
        child.once('close', () => resolve());
      });
      await pause(random() * 40);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  const signal = await closed;
  const lines = stdout.split('\n').filter(Boolean);
  const ready = lines.find((l) => l.startsWith('ready '));
  const nums = lines.filter((l) => /^\d+$/.test(l)).map(Number);
  return { startedAt: ready ? Number(ready.slice(6)) : undefined, lastReported: nums.at(-1), signal, stderr };
}

interface Lane {
  name: string;
  args: (dir: string, maxMs: number) => string[];
  /** Load the store as berthd would; returns the counter it holds plus any problem seen. */
  load: (dir: string, since: number) => Promise<{ counter: number; problems: string[] }>;
}

const markerUnit = (n: number): UnitSpec => ({ name: `m${n}`, class: 'bootstrap', bootstrap: { mode: 'once', essential: false, order: n } }) as unknown as UnitSpec;

const LANES: Lane[] = [
  {
    name: 'settings store',
    args: (dir, maxMs) => [SETTINGS_CHILD, dir, DEFAULTS, String(maxMs)],
    load: async (dir) => {
      const store = await SettingsStore.open({ stateDir: dir, defaultsFile: DEFAULTS });
      const v = store.getFlat()['host-containers.c.user-data'];
      const counter = v === undefined ? 0 : Number(Buffer.from(String(v), 'base64').toString('utf8'));
      const left = (await readdir(path.join(dir, 'settings'))).filter((n) => n !== 'settings.json');
      return { counter, problems: [...(Number.isInteger(counter) ? [] : [`stored value ${String(v)}`]), ...(left.length ? [`temp files after load: ${left.join(',')}`] : [])] };
    },
  },
  {
    name: 'workload list',
    args: (dir, maxMs) => [WORKLOADS_CHILD, dir, String(maxMs)],
    load: async (dir) => {
      const store = await WorkloadStore.open(dir);
      const counter = Number(store.get('w')?.request.env['COUNTER'] ?? 0);
      const problems: string[] = [];
      if (counter > 0) {
        // The list is one transaction: `w` and the extra entry written with it agree.
        const extra = store.get(`extra-${counter % 3}`);
        if (extra?.request.env['COUNTER'] !== String(counter)) problems.push(`torn list: w=${counter}, extra-${counter % 3}=${extra?.request.env['COUNTER']}`);
        if (store.all().length !== 2) problems.push(`list has ${store.all().length} entries at counter ${counter}`);
      }
      const left = (await readdir(dir)).filter((n) => n.startsWith('.workloads.json'));
      if (left.length) problems.push(`temp files after load: ${left.join(',')}`);
      return { counter, problems };
    },
  },
  {
    name: 'bootstrap once markers',
    args: (dir, maxMs) => [MARKERS_CHILD, path.join(dir, 'state'), path.join(dir, 'run'), String(maxMs)],
    load: async (dir, since) => {
      const m = bootstrapMarkers(path.join(dir, 'state'), path.join(dir, 'run'));
      const files = await readdir(path.join(dir, 'state', 'bootstrap')).catch(() => [] as string[]);
      const numbers = new Set(files.map((f) => /^m(\d+)\.done$/.exec(f)?.[1]).filter(Boolean).map(Number));
      let counter = 0;
      while (numbers.has(counter + 1)) counter++;
      const problems: string[] = [];
      if (numbers.size !== counter) problems.push(`${numbers.size} marker files but m1..m${counter} contiguous`);
      // done() as berthd asks it, on the boundary; the markers written this round must be whole.
      if (counter > 0 && !(await m.done(markerUnit(counter)))) problems.push(`done(m${counter}) is false`);
      if (await m.done(markerUnit(counter + 1))) problems.push(`done(m${counter + 1}) is true`);
      for (let n = Math.max(1, since); n <= counter; n++) {
        const text = await readFile(path.join(dir, 'state', 'bootstrap', `m${n}.done`), 'utf8');
        if (!/^\d{4}-\d\d-\d\dT[\d:.]+Z\n$/.test(text)) problems.push(`m${n}.done torn: ${JSON.stringify(text)}`);
      }
      // The marker being written when the child died was looked at above: its temp file must be gone.
      const left = (await readdir(path.join(dir, 'state', 'bootstrap')).catch(() => [] as string[])).filter((f) => f.includes('.tmp-'));
      if (left.length) problems.push(`temp files after load: ${left.join(',')}`);
      return { counter, problems };
    },
  },
];

async function runLane(lane: Lane, rounds: number, random: () => number, deadline: number): Promise<Row> {
  const t = new Tally(`R5 crash consistency: ${lane.name}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chaos-r5-'));
  let known = 0;
  let midCommit = 0;
  try {
    for (let round = 1; round <= rounds; round++) {
      if (Date.now() > deadline) {
        t.fail(`deadline passed after ${round - 1} of ${rounds} rounds`);
        break;
      }
      const ok = await t.run(`round ${round}`, async () => {
        const o = await runChild(lane.args(dir, Math.max(2000, deadline - Date.now())), random);
        const problems: string[] = [];
        if (o.signal !== 'SIGKILL') problems.push(`child ended on its own: ${o.stderr.trim().slice(0, 300)}`);
        if (o.startedAt !== undefined && o.startedAt !== known) problems.push(`child loaded ${o.startedAt}, expected ${known}`);
        const reported = o.lastReported ?? known;
        const t0 = now();
        const loaded = await lane.load(dir, known);
        t.recovery(now() - t0);
        problems.push(...loaded.problems);
        if (loaded.counter !== reported && loaded.counter !== reported + 1) problems.push(`holds ${loaded.counter}, last committed ${reported}`);
        if (loaded.counter === reported + 1) midCommit++;
        known = loaded.counter;
        return problems;
      });
      if (!ok && t.failures > 20) break;
    }
    t.note = `${rounds} SIGKILLs; final counter ${known}; ${midCommit} in-flight commits found durable; recovery = load time`;
    return t.row();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function r5CrashConsistency(env: ChaosEnv): Promise<Row[]> {
  const rounds = env.mode === 'full' ? 1000 : 25;
  const deadline = Date.now() + (env.mode === 'full' ? 12 : 3) * 60_000;
  return Promise.all(LANES.map((lane, i) => runLane(lane, rounds, prng(env.seed ^ (0x5550 + i)), deadline)));
}
