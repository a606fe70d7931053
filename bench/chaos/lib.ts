// Shared pieces of the chaos suite: result rows, sizes per mode, a seeded PRNG, deadlines, and the checks
// every scenario needs against containerd (duplicates, orphans, leaked snapshots, leases and mounts).
//
// Rules the suite keeps (see bench/chaos/README.md): every loop has a count and a deadline; every wait is a
// condition with a deadline (waitFor / waitUnit), never a fixed sleep standing in for "it is done by now";
// everything started (containerd, berthd, children, mounts) is stopped by PID / by path at the end.
import { readFile } from 'node:fs/promises';
import type { ContainerdClient } from '../../src/containerd/client.js';
import type { TestContainerd } from '../../tests/support/containerd.js';

export type Mode = 'short' | 'full';

export interface Row {
  scenario: string;
  runs: number;
  failures: number;
  /** Worst time to recover (reconverge, restart, reload), ms; undefined when the scenario has none. */
  worstRecoveryMs?: number;
  /** One line on what was measured or why a row is not applicable. */
  note?: string;
  /** First failure messages (at most 10), for the report and for debugging. */
  failureDetails: string[];
}

/** Counts runs and failures of one scenario row; a failing check never aborts the rest of the scenario. */
export class Tally {
  runs = 0;
  failures = 0;
  worst: number | undefined;
  readonly details: string[] = [];
  note: string | undefined;
  constructor(readonly scenario: string) {}

  recovery(ms: number): void {
    this.worst = Math.max(this.worst ?? 0, ms);
  }

  fail(message: string): void {
    this.failures++;
    if (this.details.length < 10) this.details.push(message);
    if (process.env['CHAOS_VERBOSE']) console.error(`[${this.scenario}] FAIL ${message}`);
  }

  /** One run: `fn` returns a list of problems (empty = passed) or throws (a failure too). */
  async run(what: string, fn: () => Promise<string[] | void>): Promise<boolean> {
    this.runs++;
    try {
      const problems = (await fn()) ?? [];
      if (problems.length > 0) {
        this.fail(`${what}: ${problems.join('; ')}`);
        return false;
      }
      return true;
    } catch (e) {
      this.fail(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  row(): Row {
    return {
      scenario: this.scenario,
      runs: this.runs,
      failures: this.failures,
      ...(this.worst !== undefined ? { worstRecoveryMs: Math.round(this.worst) } : {}),
      ...(this.note ? { note: this.note } : {}),
      failureDetails: this.details,
    };
  }
}

/** mulberry32: small, seeded, so a failing schedule replays with the printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** A random delay used to pick a kill instant (this is the chaos, not a wait for something). */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Throws once the scenario's overall deadline has passed, so no loop can run unbounded. */
export function checkDeadline(deadline: number, what: string): void {
  if (Date.now() > deadline) throw new Error(`scenario deadline passed during ${what}`);
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Delays announced in unit events: "…; restarting in 2.1 s (attempt 2)". */
export function announcedDelays(events: { state: string; message: string }[]): number[] {
  return events.filter((e) => e.state === 'backing-off').map((e) => Number(/restarting in ([\d.]+) s/.exec(e.message)?.[1])).filter((n) => Number.isFinite(n));
}

/** The spec'd backoff: 1 s doubling, ±20 % jitter (plus rounding to 0.1 s in the message). */
export function backoffProblems(delays: number[], count: number): string[] {
  const out: string[] = [];
  if (delays.length < count) out.push(`only ${delays.length} backoff delays seen (${delays.join(', ')}), wanted ${count}`);
  for (let i = 0; i < Math.min(count, delays.length); i++) {
    const base = Math.pow(2, i);
    const lo = base * 0.8 - 0.05;
    const hi = base * 1.2 + 0.05;
    if (delays[i]! < lo || delays[i]! > hi) out.push(`delay ${i + 1} = ${delays[i]} s, expected ${base} s ±20 %`);
  }
  return out;
}

export interface LeakReport {
  containers: string[];
  runningTasks: Record<string, number>;
  allTasks: string[];
  activeSnapshots: string[];
  leases: string[];
  mounts: string[];
}

/** What containerd holds in `ns` right now, plus rootfs mounts under the test containerd's dirs. */
export async function inventory(cc: ContainerdClient, ctd: TestContainerd, ns: string): Promise<LeakReport> {
  const call = { namespace: ns };
  const [containers, tasks, snaps, leases] = await Promise.all([
    cc.listContainers([], call),
    cc.listTasks(call),
    cc.listSnapshots('overlayfs', [], call),
    cc.listLeases([], call),
  ]);
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const mounts = info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(ctd.dir) && m.endsWith('/rootfs'));
  return {
    containers: containers.map((c) => c.id).sort(),
    runningTasks: Object.fromEntries(tasks.filter((t) => t.status === 'RUNNING').map((t) => [t.id, t.pid])),
    allTasks: tasks.map((t) => t.id).sort(),
    activeSnapshots: snaps.filter((s) => s.kind === 'ACTIVE').map((s) => s.name).sort(),
    leases: leases.map((l) => l.id).sort(),
    mounts: mounts.sort(),
  };
}

/**
 * The invariants after a reconcile: exactly the expected containers (no duplicates, nothing no unit claims),
 * tasks only for them, one active snapshot per container, no leases left, one rootfs mount per live task.
 */
export function leakProblems(inv: LeakReport, expected: string[]): string[] {
  const out: string[] = [];
  const want = [...expected].sort();
  const extra = inv.containers.filter((c) => !want.includes(c));
  const missing = want.filter((c) => !inv.containers.includes(c));
  if (extra.length) out.push(`containers no unit claims: ${extra.join(',')}`);
  if (missing.length) out.push(`missing containers: ${missing.join(',')}`);
  const orphanTasks = inv.allTasks.filter((t) => !want.includes(t));
  if (orphanTasks.length) out.push(`tasks no unit claims: ${orphanTasks.join(',')}`);
  const snapExtra = inv.activeSnapshots.filter((s) => !inv.containers.includes(s));
  if (snapExtra.length || inv.activeSnapshots.length !== inv.containers.length) {
    out.push(`active snapshots ${inv.activeSnapshots.length} != containers ${inv.containers.length} (extra: ${snapExtra.join(',')})`);
  }
  if (inv.leases.length) out.push(`leases left: ${inv.leases.join(',')}`);
  const live = Object.keys(inv.runningTasks).length;
  if (inv.mounts.length > live) out.push(`${inv.mounts.length} rootfs mounts for ${live} running tasks`);
  return out;
}
