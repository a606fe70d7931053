// The group's reboot semaphore in etcd (updates.reboot-strategy = etcd, and every fleet rollout), after
// Flatcar's locksmith: at most N hosts of a group reboot into an update at once.
//
// Keys (all under /berth/<group>/):
//   reboot-semaphore         {"holders":[host…],"failed":[{host,reason}…]}: the one key every grant and release
//                            rewrites; its mod_revision is the semaphore's version.
//   reboot-slots/<host-id>   the slot a host holds ({from,to,since[,failed]}): written and deleted only in the
//                            same transaction as the semaphore key, so the slot keys mirror its holders.
//   update                   the rollout ({version,maxConcurrent,held}), written by `fleet update|hold|resume`.
//
// Why it is safe under concurrency: a host reads the semaphore and the rollout key, decides (decideGrant, pure),
// and commits its change in one etcd transaction that succeeds only if neither key's mod_revision moved since
// it read them (compare-and-swap, as locksmith does on its semaphore key). Two hosts racing for the last slot
// both read revision R; the first commit moves the semaphore past R, so the second's compare fails and it
// reads again and waits. A hold (`fleet hold`) moves the rollout key's revision, so no grant decided before it
// commits after it. None of it is bound to a lease: a slot survives the holder's reboot (and its crash), and
// goes only when the host releases it after a healthy boot or an operator resumes the group.

import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import { groupPrefix } from './config.js';

export interface SlotFailure {
  readonly host: string;
  readonly reason: string;
}

export interface SemaphoreState {
  readonly holders: readonly string[];
  /** Hosts that failed their update while holding a slot: the group's rollout is halted while any is listed. */
  readonly failed: readonly SlotFailure[];
}

export interface GroupUpdate {
  /** The version every host of the group is to run. */
  readonly version: string;
  /** Slots for this rollout; 0: each host's fleet.max-concurrent-reboots. */
  readonly maxConcurrent: number;
  /** `fleet hold`: no new slot is granted. */
  readonly held: boolean;
}

export const EMPTY_SEMAPHORE: SemaphoreState = { holders: [], failed: [] };

export function semaphoreKey(group: string): string {
  return `${groupPrefix(group)}reboot-semaphore`;
}
export function slotsPrefix(group: string): string {
  return `${groupPrefix(group)}reboot-slots/`;
}
export function slotKey(group: string, hostId: string): string {
  return `${slotsPrefix(group)}${hostId}`;
}
export function updateKey(group: string): string {
  return `${groupPrefix(group)}update`;
}

const semaphoreSchema = z.object({
  holders: z.array(z.string().max(256)).max(100_000),
  failed: z.array(z.object({ host: z.string().max(256), reason: z.string().max(4096) })).max(100_000),
});
const updateSchema = z.object({
  version: z.string().max(64),
  maxConcurrent: z.number().int().nonnegative().max(100_000),
  held: z.boolean(),
});

/** A semaphore value from etcd; absent: empty. Malformed is an error, not "empty": that would grant slots freely. */
export function decodeSemaphore(text: string | undefined): SemaphoreState {
  if (text === undefined) return EMPTY_SEMAPHORE;
  const parsed = semaphoreSchema.safeParse(safeJson(text));
  if (!parsed.success) throw new Error('the reboot semaphore in etcd is unreadable; fix or delete it by hand');
  return parsed.data;
}

export function decodeUpdate(text: string | undefined): GroupUpdate | undefined {
  if (text === undefined) return undefined;
  const parsed = updateSchema.safeParse(safeJson(text));
  return parsed.success ? parsed.data : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export type GrantDecision =
  | { readonly kind: 'granted'; readonly next: SemaphoreState }
  | { readonly kind: 'holding' }
  | { readonly kind: 'wait'; readonly reason: string };

/** Whether `hostId` may take a slot now, and the semaphore if it does. Pure: the caller commits it by CAS. */
export function decideGrant(sem: SemaphoreState, update: GroupUpdate | undefined, hostId: string, hostMax: number): GrantDecision {
  if (sem.holders.includes(hostId)) return { kind: 'holding' };
  if (update?.held) return { kind: 'wait', reason: 'the group\'s rollout is on hold (berthctl fleet resume)' };
  if (sem.failed.length > 0) {
    return { kind: 'wait', reason: `the group's rollout is halted: ${sem.failed.map((f) => `${f.host} failed (${f.reason})`).join('; ')} (berthctl fleet resume)` };
  }
  const max = update && update.maxConcurrent > 0 ? update.maxConcurrent : hostMax;
  if (sem.holders.length >= max) return { kind: 'wait', reason: `all ${max} reboot slots are held (${sem.holders.join(', ')})` };
  return { kind: 'granted', next: { holders: [...sem.holders, hostId], failed: sem.failed } };
}

export function withRelease(sem: SemaphoreState, hostId: string): SemaphoreState {
  return { holders: sem.holders.filter((h) => h !== hostId), failed: sem.failed.filter((f) => f.host !== hostId) };
}

export function withFailure(sem: SemaphoreState, hostId: string, reason: string): SemaphoreState {
  return { holders: sem.holders.includes(hostId) ? sem.holders : [...sem.holders, hostId], failed: [...sem.failed.filter((f) => f.host !== hostId), { host: hostId, reason }] };
}

/** `fleet resume`: the failed hosts give their slots back (the operator has looked at them) and the halt ends. */
export function withResume(sem: SemaphoreState): SemaphoreState {
  const failed = new Set(sem.failed.map((f) => f.host));
  return { holders: sem.holders.filter((h) => !failed.has(h)), failed: [] };
}

export interface GroupView {
  readonly sem: SemaphoreState;
  readonly semRevision: number;
  readonly update: GroupUpdate | undefined;
  readonly updateRevision: number;
  /** The store's revision when read (to watch from the next one). */
  readonly revision: number;
}

/** The semaphore and the rollout key at one revision (one transaction with two reads). */
export async function readGroup(client: Etcd3, group: string): Promise<GroupView> {
  const res = await client.if(semaphoreKey(group), 'Mod', '>', -1)
    .then(client.get(semaphoreKey(group)), client.get(updateKey(group)))
    .commit();
  const kvOf = (i: number) => res.responses[i]?.response_range?.kvs[0];
  const s = kvOf(0);
  const u = kvOf(1);
  return {
    sem: decodeSemaphore(s?.value.toString('utf8')), semRevision: s ? Number(s.mod_revision) : 0,
    update: decodeUpdate(u?.value.toString('utf8')), updateRevision: u ? Number(u.mod_revision) : 0,
    revision: Number(res.header.revision),
  };
}

export interface SlotValue {
  readonly from: string;
  readonly to: string;
  readonly since: string;
  readonly failed?: string;
}

/**
 * Commits `next` as the semaphore (and puts or deletes the slot key of `hostId`) if neither the semaphore
 * nor the rollout key changed since `view` was read. false: someone else committed first; read again.
 */
export async function commitSemaphore(client: Etcd3, group: string, view: GroupView, next: SemaphoreState, slot: { hostId: string; value: SlotValue | undefined }, alsoDelete: readonly string[] = []): Promise<boolean> {
  const ops = [client.put(semaphoreKey(group)).value(JSON.stringify(next))];
  const res = await client
    .if(semaphoreKey(group), 'Mod', '==', view.semRevision)
    .and(updateKey(group), 'Mod', '==', view.updateRevision)
    .then(
      ...ops,
      slot.value ? client.put(slotKey(group, slot.hostId)).value(JSON.stringify(slot.value)) : client.delete().key(slotKey(group, slot.hostId)),
      ...alsoDelete.map((h) => client.delete().key(slotKey(group, h))),
    )
    .commit();
  return res.succeeded;
}
