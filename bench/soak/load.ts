// The soak's mixed load: each driver is a loop that runs until the signal fires, counting what it did and
// what failed. They talk to berthd only through BerthClient, as an operator's tools would.
import { setTimeout as delay } from 'node:timers/promises';
import { BerthClient, type WorkloadRequest } from '../../src/cli/client.js';
import { BUSYBOX_REF } from '../../tests/support/images.js';
import { IDLE } from '../../tests/support/units.js';
import { nowMs } from '../stats.js';

export interface LoadCounts {
  statusCalls: number;
  logLines: number;
  /** Follow streams that ended (or failed) and were opened again. */
  followerRestarts: number;
  adminToggles: number;
  workloadsRun: number;
  /** `backing-off` events of the crash-looping unit: one per crash followed by a scheduled restart. */
  crashRestarts: number;
  errors: number;
  /** The first few error messages, by driver, for the report. */
  firstErrors: string[];
}

export const newCounts = (): LoadCounts => ({
  statusCalls: 0, logLines: 0, followerRestarts: 0, adminToggles: 0, workloadsRun: 0, crashRestarts: 0, errors: 0, firstErrors: [],
});

/** Per status client: a monitoring agent polling hard, not a benchmark saturating the socket (P5 does that). */
const STATUS_CALLS_PER_S = 100;
export const ADMIN_TOGGLE_MS = 10_000;
export const WORKLOAD_EVERY_MS = 5_000;
/** The crash loop's backoff doubles up to 5 min; a fresh start every 30 s keeps it crashing every few seconds. */
const CRASH_KICK_MS = 30_000;

/** Resolves after `ms`, or at once when the signal fires (never rejects). */
export const pause = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);

function failed(counts: LoadCounts, driver: string, err: unknown, signal: AbortSignal): void {
  if (signal.aborted) return; // calls cut short by the end of the run are not failures
  counts.errors++;
  if (counts.firstErrors.length < 10) counts.firstErrors.push(`${driver}: ${(err as Error).message ?? String(err)}`);
}

/** One status client on its own connection: units.get and units.list in turn, paced. */
export async function statusClient(socketPath: string, unit: string, counts: LoadCounts, signal: AbortSignal): Promise<void> {
  const client = BerthClient.connect({ socketPath });
  const period = 1000 / STATUS_CALLS_PER_S;
  let next = nowMs();
  try {
    for (let i = 0; !signal.aborted; i++) {
      try {
        if (i % 2 === 0) await client.units.get(unit);
        else await client.units.list();
        counts.statusCalls++;
      } catch (err) {
        failed(counts, 'status', err, signal);
      }
      next += period;
      const ahead = next - nowMs();
      if (ahead > 0) await pause(ahead, signal);
      else next = nowMs(); // behind: do not burst to catch up
    }
  } finally {
    client.close();
  }
}

/** `logs -f` of one unit, opened again whenever it ends (the unit's container came and went) or fails. */
export async function logFollower(client: BerthClient, unit: string, counts: LoadCounts, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      for await (const _line of client.units.logs(unit, { follow: true, tail: 5, signal })) counts.logLines++;
    } catch (err) {
      failed(counts, `logs -f ${unit}`, err, signal);
    }
    if (signal.aborted) break;
    counts.followerRestarts++;
    await pause(200, signal); // a stream that ends at once must not become a busy loop
  }
}

/** host-containers.admin.enabled flipped every 10 s (ends disabled). */
export async function adminToggler(client: BerthClient, counts: LoadCounts, signal: AbortSignal): Promise<void> {
  let on = false;
  while (!signal.aborted) {
    await pause(ADMIN_TOGGLE_MS, signal);
    if (signal.aborted) break;
    on = !on;
    try {
      await client.settings.set({ 'host-containers.admin.enabled': String(on) });
      counts.adminToggles++;
    } catch (err) {
      failed(counts, 'admin toggle', err, signal);
    }
  }
  if (on) await client.settings.set({ 'host-containers.admin.enabled': 'false' }).catch(() => undefined);
}

/** Counts the crash loop's restarts from the event stream, and starts it afresh every 30 s. */
export async function crashLoop(client: BerthClient, unit: string, counts: LoadCounts, signal: AbortSignal): Promise<void> {
  const watch = (async () => {
    while (!signal.aborted) {
      try {
        for await (const ev of client.events.watch({ signal })) {
          if (ev.kind === 'unit' && ev.unit === unit && ev.state === 'backing-off') counts.crashRestarts++;
        }
      } catch (err) {
        failed(counts, 'events', err, signal);
      }
      await pause(200, signal);
    }
  })();
  while (!signal.aborted) {
    await pause(CRASH_KICK_MS, signal);
    if (signal.aborted) break;
    try {
      await client.units.stop(unit, { timeoutMs: 30_000 });
      await client.units.start(unit, { timeoutMs: 30_000 });
    } catch (err) {
      failed(counts, `restart ${unit}`, err, signal);
    }
  }
  await watch;
}

function workload(name: string): WorkloadRequest {
  return {
    name, image: BUSYBOX_REF, command: ['/bin/sh', '-c', IDLE], env: {}, memoryBytes: 16 << 20, mounts: [], restart: 'never',
    capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [],
  };
}

/** Runs a workload and waits until it is RUNNING (20 s at most); the caller removes it. */
export async function runWorkload(client: BerthClient, name: string, signal?: AbortSignal): Promise<void> {
  await client.workloads.run(workload(name));
  const deadline = nowMs() + 20_000;
  for (;;) {
    const w = await client.workloads.get(name);
    if (w.status.state === 'running' || signal?.aborted) return;
    if (w.status.state === 'failed' || nowMs() > deadline) throw new Error(`${name}: ${w.status.state} ${w.status.lastError ?? ''}`);
    await delay(50);
  }
}

/** A workload run every 5 s, waited for until RUNNING, then removed. */
export async function workloadCycler(client: BerthClient, counts: LoadCounts, signal: AbortSignal): Promise<void> {
  for (let i = 0; !signal.aborted; i++) {
    const started = nowMs();
    const name = `soak-w${i}`;
    try {
      await runWorkload(client, name, signal);
      counts.workloadsRun++;
    } catch (err) {
      failed(counts, 'workload', err, signal);
    }
    // Removed even when the run is ending: the soak leaves no workload behind.
    await client.workloads.remove(name).catch((err: unknown) => (/not found/i.test(String(err)) ? undefined : failed(counts, 'workload rm', err, signal)));
    await pause(Math.max(0, WORKLOAD_EVERY_MS - (nowMs() - started)), signal);
  }
}
