// Reboot-slot throughput (issue 19, "Must show"): many hosts race for the group's etcd reboot semaphore
// (src/fleet/slot-client.ts, the code berthd runs: a compare-and-swap on the semaphore key, a watch while all
// slots are held) and give their slot back at once, so the figure is the coordination ceiling: slots granted
// per second by etcd and the CAS, not by reboots (a real reboot holds its slot for minutes, so a fleet's
// reboot rate is max-concurrent-reboots / reboot time, far below this). The contenders share the
// simulation's etcd client (one process). The invariant (never more than `max` holders, from etcd's history,
// under a leader kill) is tests/integration/reboot-slots.test.ts's.

import type { Etcd3 } from 'etcd3';
import { acquireSlot, releaseSlot } from '../../src/fleet/slot-client.js';

export type RebootSlotFigures =
  | {
      readonly measured: true;
      readonly contenders: number;
      readonly maxConcurrent: number;
      readonly slotsPerSecond: number;
      readonly lastHostWaitMs: number;
    }
  | { readonly measured: false; readonly note: string };

/** Hosts racing at once (bounded: each waits on its own watch of the group). */
const MAX_CONTENDERS = 200;
const MAX_CONCURRENT = 10;

export async function measureRebootSlots(ctx: { client: Etcd3; group: string; hosts: number }): Promise<RebootSlotFigures> {
  const group = `${ctx.group}-reboot-slots`;
  const contenders = Math.max(1, Math.min(ctx.hosts, MAX_CONTENDERS));
  let lastGrantMs = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: contenders }, async (_, i) => {
    const hostId = `slot-host-${i}`;
    await acquireSlot(ctx.client, group, hostId, {
      hostMax: () => MAX_CONCURRENT,
      slot: { from: '1.0.0', to: '2.0.0', since: new Date().toISOString() },
    });
    lastGrantMs = Math.max(lastGrantMs, performance.now() - start);
    await releaseSlot(ctx.client, group, hostId);
  }));
  const totalMs = performance.now() - start;
  return {
    measured: true, contenders, maxConcurrent: MAX_CONCURRENT,
    slotsPerSecond: contenders / (totalMs / 1000), lastHostWaitMs: lastGrantMs,
  };
}
