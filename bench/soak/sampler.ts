// Every 5 s: berthd's RSS and open fds as the kernel sees them (/proc/<pid>), and its heap and event-loop
// delay as berthd reports them (Host/ProcessStats: those cannot be read from outside the process).
import { readdir, readFile } from 'node:fs/promises';
import type { BerthClient } from '../../src/cli/client.js';
import { nowMs } from '../stats.js';
import { pause, type LoadCounts } from './load.js';

export interface Sample {
  /** Seconds since the load started. */
  t: number;
  rssMb: number;
  fds: number;
  heapUsedMb: number;
  heapTotalMb: number;
  /** Event-loop delay over the window since the previous sample. */
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  /** p99 over every window since the load started (berthd's monitor started then). */
  loopP99SinceStartMs: number;
  statusCalls: number;
}

const MB = 1024 * 1024;

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

export async function takeSample(pid: number, client: BerthClient, t: number, counts: LoadCounts): Promise<Sample> {
  const stats = await client.host.processStats({ timeoutMs: 10_000 });
  return {
    t, rssMb: await rssMb(pid), fds: await fdCount(pid),
    heapUsedMb: stats.heapUsedBytes / MB, heapTotalMb: stats.heapTotalBytes / MB,
    loopP50Ms: stats.loopDelay.p50Ms, loopP99Ms: stats.loopDelay.p99Ms, loopMaxMs: stats.loopDelay.maxMs,
    loopP99SinceStartMs: stats.loopDelay.p99SinceStartMs,
    statusCalls: counts.statusCalls,
  };
}

/**
 * Samples every `periodMs` from `t0` until the signal fires, plus one last sample then. The first
 * ProcessStats call (made before the load, by the caller) started berthd's loop monitor.
 */
export async function sampleUntil(pid: number, client: BerthClient, t0: number, periodMs: number, counts: LoadCounts, signal: AbortSignal, into: Sample[]): Promise<void> {
  for (let i = 1; ; i++) {
    await pause(Math.max(0, t0 + i * periodMs - nowMs()), signal);
    try {
      into.push(await takeSample(pid, client, (nowMs() - t0) / 1000, counts));
    } catch (err) {
      // The last sample may miss a berthd that a Ctrl-C (sent to the whole process group) already ended.
      if (signal.aborted) return;
      throw err;
    }
    if (signal.aborted) return;
  }
}

/**
 * berthd's fd count once it holds still (the same value for 2 s; 30 s at most): compared before and after the
 * load in the same quiet state, so what is open at the instant of a sample (a unit starting, a call in
 * flight) does not count as growth.
 */
export async function settledFds(pid: number): Promise<number> {
  const deadline = nowMs() + 30_000;
  const reads: number[] = [];
  for (;;) {
    reads.push(await fdCount(pid));
    const last = reads.slice(-11);
    if ((last.length === 11 && Math.min(...last) === Math.max(...last)) || nowMs() > deadline) return last.at(-1)!;
    await new Promise((r) => setTimeout(r, 200));
  }
}
