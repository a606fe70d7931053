// berth's disk layout: GPT partitions named BERTH-ESP, BERTH-ROOT-A, BERTH-ROOT-B (and BERTH-STATE, which the
// updater never touches), and which root slot is the active one.
import { readFile, stat } from 'node:fs/promises';
import { partitionNamed, readGpt, type GptPartition } from './gpt.js';
import { slotOfCmdline, slotPartlabel } from './entries.js';
import type { BootEntryInfo, SlotInfo, SlotName, SlotState } from './types.js';

export const ESP_NAME = 'BERTH-ESP';

export interface DiskLayout {
  readonly disk: string;
  readonly esp: GptPartition;
  readonly roots: Readonly<Record<SlotName, GptPartition>>;
}

export async function readLayout(disk: string): Promise<DiskLayout> {
  const table = await readGpt(disk);
  return {
    disk,
    esp: partitionNamed(table, ESP_NAME, disk),
    roots: { A: partitionNamed(table, slotPartlabel('A'), disk), B: partitionNamed(table, slotPartlabel('B'), disk) },
  };
}

export type ActiveFrom = 'cmdline' | 'esp';

/** A block device is a host's boot disk (the running kernel says which slot it runs); a file is a disk image. */
export async function defaultActiveFrom(disk: string): Promise<ActiveFrom> {
  return (await stat(disk)).isBlockDevice() ? 'cmdline' : 'esp';
}

export function otherSlot(s: SlotName): SlotName {
  return s === 'A' ? 'B' : 'A';
}

export async function activeSlot(from: ActiveFrom, entries: readonly BootEntryInfo[], cmdlinePath: string, disk: string): Promise<SlotName> {
  if (from === 'cmdline') {
    const cmdline = await readFile(cmdlinePath, 'utf8');
    const slot = slotOfCmdline(cmdline);
    if (!slot) throw new Error(`the kernel command line (${cmdlinePath}) names no berth root slot (berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A or -B): this host did not boot from an A/B disk`);
    return slot;
  }
  // A disk image file runs nothing: its "active" slot is the one its next boot would use.
  const first = entries[0];
  if (!first?.slot) throw new Error(`${disk}: no boot entry on ${ESP_NAME} names a root slot, so the active slot is unknown`);
  return first.slot;
}

export function slotInfo(layout: DiskLayout, entries: readonly BootEntryInfo[], active: SlotName, activeFrom: ActiveFrom): SlotInfo {
  const state = (name: SlotName): SlotState => ({
    name,
    partlabel: slotPartlabel(name),
    offset: layout.roots[name].offset,
    size: layout.roots[name].size,
    entry: entries.find((e) => e.slot === name),
  });
  return { active, activeFrom, inactive: otherSlot(active), slots: [state('A'), state('B')], entries, defaultEntry: entries[0] };
}
