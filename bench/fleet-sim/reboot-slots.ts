// HOOK — reboot-slot throughput (issue 19, "Must show"). Reboot coordination (the etcd reboot-slot
// semaphore, `fleet update|hold|resume`) is built in branch h19r; once merged, measure here: with the
// simulated hosts registered, N hosts each take a slot (max-concurrent-reboots = M), "reboot" (release after
// a fixed pause), and report slots granted per second and the wait of the last host. Until then the
// simulation prints the line below and the JSON says `measured: false`.

import type { Etcd3 } from 'etcd3';

export type RebootSlotFigures =
  | { readonly measured: true; readonly slotsPerSecond: number; readonly lastHostWaitMs: number }
  | { readonly measured: false; readonly note: string };

export const NOT_MEASURED = 'not measured: reboot slots are built in branch h19r';

export async function measureRebootSlots(_ctx: { client: Etcd3; group: string; hosts: number }): Promise<RebootSlotFigures> {
  return { measured: false, note: NOT_MEASURED };
}
