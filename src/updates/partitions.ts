// The disk's A/B slots in Bottlerocket's terms (its update status's active and staging partitions), for the
// brupop-compatible API (src/apiclient/ reads them through berth.v1.Updates).
import type { SlotInfo, SlotName } from './installer.js';

export interface PartitionImage {
  readonly arch: string;
  readonly version: string;
  readonly variant: string;
}

export interface PartitionInfo {
  readonly slot: SlotName;
  /** Absent when the slot has no boot entry (empty, or never written by berth). */
  readonly image?: PartitionImage;
  readonly nextToBoot: boolean;
}

/**
 * The running slot (active) and the other one (staging), each with the version its boot entry names: the
 * chosen update's arch and variant when it is that version, the host's otherwise.
 */
export function partitionsOf(slots: SlotInfo, host: { arch: string; variant: string }, chosen?: PartitionImage): { active: PartitionInfo; staging: PartitionInfo } {
  const part = (slot: SlotName): PartitionInfo => {
    const version = slots.versions[slot];
    const image = version === undefined ? undefined : chosen && chosen.version === version ? { ...chosen } : { arch: host.arch, version, variant: host.variant };
    return { slot, ...(image ? { image } : {}), nextToBoot: slots.nextBoot === slot };
  };
  return { active: part(slots.running), staging: part(slots.inactive) };
}
