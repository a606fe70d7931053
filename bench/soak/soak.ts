// Issue 20's soak: one berthd (shipped admin/control units plus a chatty unit and a crash-looping one) on
// the bench's containerd, under mixed load for the whole duration, sampled every 5 s. Everything it starts
// (berthd, its units and workloads, their shims and mounts) is stopped by PID at the end, also when the run
// fails or is interrupted (the caller's signal).
import { setMaxListeners } from 'node:events';
import { importArchive } from '../../src/images/import.js';
import { BerthClient } from '../../src/cli/client.js';
import { WORKLOAD_NAMESPACE } from '../../src/workloads/wiring.js';
import { TestBerthd } from '../../tests/support/berthd.js';
import { busyboxArchive } from '../../tests/support/images.js';
import { hostUnit, waitUnit } from '../../tests/support/units.js';
import { nowMs, type Row } from '../stats.js';
import type { BenchContext } from '../context.js';
import { adminToggler, crashLoop, logFollower, newCounts, runWorkload, statusClient, workloadCycler, type LoadCounts } from './load.js';
import { sampleUntil, settledFds, takeSample, type Sample } from './sampler.js';
import { soakRows } from './figures.js';
import { cpuMs, startFloorProbe } from './floor.js';

export interface SoakOptions {
  durationMs: number;
  /** 5 s in the real soak. */
  sampleMs?: number;
  /** Ends the load early (SIGINT); the figures of what ran are still returned. */
  signal?: AbortSignal;
  /** Progress lines for the operator (the load starting, stopping). */
  log?: (line: string) => void;
}

export interface SoakResult {
  seconds: number;
  interrupted: boolean;
  samples: Sample[];
  counts: LoadCounts;
  /** berthd's CPU time over the load, in % of one core. */
  berthdCpuPct: number;
  /** Event-loop delay of an idle Node process beside berthd: what the machine alone costs (floor.ts). */
  floorDelay: { p99Ms: number; maxMs: number };
  /** berthd's settled fd count before and after the load, in the same quiet state. */
  fds: { before: number; after: number };
  rows: Row[];
}

const UNITS = {
  // A line every 200 ms, for the log followers.
  talker: hostUnit('talker', 'trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo "soak line $i"; sleep 0.2 & wait $!; done'),
  crasher: hostUnit('crasher', 'echo crashing; exit 1', '[restart]\npolicy = "always"'),
};

async function importBusybox(ctx: BenchContext): Promise<void> {
  for (const ns of ['berth', WORKLOAD_NAMESPACE]) {
    const c = ctx.containerd.client(ns);
    try {
      await importArchive(c, await busyboxArchive(), { namespace: ns });
    } finally {
      c.close();
    }
  }
}

/**
 * Everything the load does, once, before the clock starts: the first admin enable builds and imports its
 * image (as in P3), the first workload connects the workload engine.
 */
async function warmUp(client: BerthClient): Promise<void> {
  await client.settings.set({ 'host-containers.admin.enabled': 'true' });
  await waitUnit(client, 'admin', (u) => u.state === 'running', 180_000, 'admin running (warm-up)');
  await client.settings.set({ 'host-containers.admin.enabled': 'false' });
  await runWorkload(client, 'soak-warm-up');
  await client.workloads.remove('soak-warm-up');
}

/** berthd's settled fd count with nothing of the load running: the crash loop stopped, admin off, no workload. */
async function quietFds(client: BerthClient, pid: number): Promise<number> {
  await client.units.stop('crasher', { timeoutMs: 30_000 });
  await waitUnit(client, 'admin', (u) => u.state === 'stopped', 60_000, 'admin stopped');
  const left = await client.workloads.list();
  if (left.length) throw new Error(`soak: workloads left after the load: ${left.map((w) => w.request.name).join(', ')}`);
  return settledFds(pid);
}

export async function runSoak(ctx: BenchContext, opts: SoakOptions): Promise<SoakResult> {
  await importBusybox(ctx);
  const b = await TestBerthd.create({ containerd: ctx.containerd, shippedUnits: true, units: UNITS });
  const clients: BerthClient[] = [];
  const connect = (): BerthClient => {
    const c = BerthClient.connect({ socketPath: b.socket });
    clients.push(c);
    return c;
  };
  try {
    await b.start(120_000);
    const pid = b.pid!;
    const admin = connect();
    const sampler = connect();
    await warmUp(admin);
    const before = await quietFds(admin, pid);
    await admin.units.start('crasher', { timeoutMs: 30_000 });
    await sampler.host.processStats(); // starts berthd's loop-delay monitor: its figure since start is the load's
    const other = connect();
    const logs = connect();
    opts.log?.(`soak: warm-up done (${before} fds, quiet), load running for ${Math.round(opts.durationMs / 1000)} s`);
    const run = await load(b.socket, pid, { admin, sampler, other, logs }, opts);
    opts.log?.(`soak: load stopped after ${Math.round(run.seconds)} s; settling to count fds, then stopping everything`);
    // The quiet state of before: only the admin and sampler connections open.
    other.close();
    logs.close();
    // A Ctrl-C reaches the whole process group, berthd included: then there may be no berthd left to count.
    const after = await quietFds(admin, pid).catch((err: unknown) => {
      if (opts.signal?.aborted) return NaN;
      throw err;
    });
    const fds = { before, after };
    return { ...run, fds, rows: soakRows(run, fds) };
  } finally {
    for (const c of clients) c.close();
    await b.stop();
  }
}
interface Clients {
  admin: BerthClient;
  sampler: BerthClient;
  other: BerthClient;
  logs: BerthClient;
}

async function load(socket: string, pid: number, c: Clients, opts: SoakOptions): Promise<Omit<SoakResult, 'rows' | 'fds'>> {
  const counts = newCounts();
  const ac = new AbortController();
  setMaxListeners(50, ac.signal); // one per driver and per open stream: a dozen, all removed at the end
  const stop = (): void => ac.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  const timer = setTimeout(stop, opts.durationMs);
  const t0 = nowMs();
  const floor = startFloorProbe();
  const cpu0 = await cpuMs(pid);
  let cpuPct = NaN;
  let floorDelay = { p99Ms: NaN, maxMs: NaN };
  const samples: Sample[] = [await takeSample(pid, c.sampler, 0, counts)];
  const drivers = [
    ...Array.from({ length: 4 }, () => statusClient(socket, 'talker', counts, ac.signal)),
    logFollower(c.logs, 'talker', counts, ac.signal),
    logFollower(c.logs, 'crasher', counts, ac.signal),
    adminToggler(c.admin, counts, ac.signal),
    crashLoop(c.other, 'crasher', counts, ac.signal),
    workloadCycler(c.other, counts, ac.signal),
  ];
  try {
    // A sampler failure (berthd gone) ends the run at once: the other drivers stop with it.
    await sampleUntil(pid, c.sampler, t0, opts.sampleMs ?? 5000, counts, ac.signal, samples).catch((err: unknown) => {
      ac.abort();
      throw err;
    });
    cpuPct = ((await cpuMs(pid).catch(() => NaN)) - cpu0) / (nowMs() - t0) * 100;
    await Promise.all(drivers);
  } finally {
    clearTimeout(timer);
    ac.abort();
    opts.signal?.removeEventListener('abort', stop);
    floorDelay = await floor.stop();
    await Promise.allSettled(drivers);
  }
  return { seconds: (nowMs() - t0) / 1000, interrupted: opts.signal?.aborted ?? false, samples, counts, berthdCpuPct: cpuPct, floorDelay };
}
