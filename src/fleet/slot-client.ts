// The reboot semaphore's operations over etcd (./reboot-slots.ts has the keys, the rules and the CAS): a host
// acquires, releases or fails its slot; an operator (through any host's berthd) starts, holds or resumes the
// group's rollout. Every write is a compare-and-swap retried on conflict; waits watch the two keys.

import type { Etcd3, Watcher } from 'etcd3';
import { onAbort } from '../util/abort.js';
import {
  commitSemaphore, decideGrant, readGroup, semaphoreKey, slotKey, updateKey, withFailure, withRelease, withResume,
  type GroupUpdate, type GroupView, type SlotValue,
} from './reboot-slots.js';

/** A wait re-reads at least this often even if no watch event came (a watch broken by an etcd outage). */
const RECHECK_MS = 3_000;
const RETRY_MS = 500;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Resolves at the first change of the semaphore or rollout key after `revision`, after RECHECK_MS, or on
 * abort. The timer runs from the start: creating a watch can itself wait on an etcd member that just died.
 */
export async function waitGroupChange(client: Etcd3, group: string, revision: number, signal?: AbortSignal): Promise<void> {
  let finished = false;
  const created: Watcher[] = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, RECHECK_MS);
    const stop = signal ? onAbort(signal, done) : () => undefined;
    function done(): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stop();
      resolve();
    }
    for (const key of [semaphoreKey(group), updateKey(group)]) {
      client.watch().key(key).startRevision(String(revision + 1)).create().then((w) => {
        created.push(w);
        if (finished) return;
        w.on('data', done).on('error', done);
      }, done);
    }
  });
  // Watches created after the wait ended are cancelled as they come.
  for (const w of created) void w.cancel().catch(() => undefined);
  const late = setInterval(() => {
    for (const w of created.splice(0)) void w.cancel().catch(() => undefined);
  }, RECHECK_MS);
  late.unref();
  setTimeout(() => clearInterval(late), RECHECK_MS * 3).unref();
}

/** Reads the group, retrying (an etcd outage) until it works or `signal` aborts. */
async function read(client: Etcd3, group: string, signal?: AbortSignal, onError?: (err: string) => void): Promise<GroupView> {
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await readGroup(client, group);
    } catch (err) {
      onError?.(message(err));
      await pause(RETRY_MS, signal);
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const stop = signal ? onAbort(signal, done) : () => undefined;
    function done(): void {
      clearTimeout(timer);
      stop();
      resolve();
    }
  });
}

export interface AcquireOptions {
  readonly hostMax: () => number;
  readonly slot: SlotValue;
  readonly signal?: AbortSignal;
  /** Called with why the host waits (once per distinct reason). */
  readonly waiting?: (reason: string) => void;
}

/**
 * Takes a slot for `hostId`, waiting as long as it takes (a hold, a halt, all slots held); resolves once
 * this host is a holder. Idempotent: a host that holds one already (a retry after a lost answer) has it.
 */
export async function acquireSlot(client: Etcd3, group: string, hostId: string, o: AcquireOptions): Promise<void> {
  let said = '';
  for (;;) {
    const view = await read(client, group, o.signal, (e) => o.waiting?.(`etcd: ${e}`));
    const d = decideGrant(view.sem, view.update, hostId, o.hostMax());
    if (d.kind === 'holding') return;
    if (d.kind === 'granted') {
      try {
        if (await commitSemaphore(client, group, view, d.next, { hostId, value: o.slot })) return;
      } catch (err) {
        // Unknown outcome (the answer was lost): the next read tells whether it committed.
        o.waiting?.(`etcd: ${message(err)}`);
        await pause(RETRY_MS, o.signal);
      }
      continue;
    }
    if (d.reason !== said) o.waiting?.((said = d.reason));
    await waitGroupChange(client, group, view.revision, o.signal).catch(() => pause(RETRY_MS, o.signal));
    o.signal?.throwIfAborted();
  }
}

/** Applies `change` to the semaphore by CAS until it commits (or there is nothing to change). */
async function update(client: Etcd3, group: string, hostId: string, change: (v: GroupView) => { sem: GroupView['sem']; slot: SlotValue | undefined; alsoDelete?: string[] } | undefined, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const view = await read(client, group, signal);
    const next = change(view);
    if (!next) return;
    try {
      if (await commitSemaphore(client, group, view, next.sem, { hostId, value: next.slot }, next.alsoDelete)) return;
    } catch {
      await pause(RETRY_MS, signal);
    }
  }
}

/** Gives the slot back (after a healthy boot). Nothing to do when this host holds none. */
export function releaseSlot(client: Etcd3, group: string, hostId: string, signal?: AbortSignal): Promise<void> {
  return update(client, group, hostId, (v) => (v.sem.holders.includes(hostId) || v.sem.failed.some((f) => f.host === hostId)
    ? { sem: withRelease(v.sem, hostId), slot: undefined } : undefined), signal);
}

/** Keeps the slot and marks this host failed: the group's rollout halts until `fleet resume`. */
export function failSlot(client: Etcd3, group: string, hostId: string, slot: SlotValue, reason: string, signal?: AbortSignal): Promise<void> {
  return update(client, group, hostId, (v) => (v.sem.failed.some((f) => f.host === hostId && f.reason === reason)
    ? undefined : { sem: withFailure(v.sem, hostId, reason), slot: { ...slot, failed: reason } }), signal);
}

// ---- the operator's side (berthctl fleet update|hold|resume, through any host's berthd) ------------------

async function putUpdate(client: Etcd3, group: string, fn: (u: GroupUpdate | undefined) => GroupUpdate): Promise<GroupUpdate> {
  for (;;) {
    const view = await readGroup(client, group);
    const next = fn(view.update);
    const res = await client.if(updateKey(group), 'Mod', '==', view.updateRevision).then(client.put(updateKey(group)).value(JSON.stringify(next))).commit();
    if (res.succeeded) return next;
  }
}

/** Sets the group's target; an operator's hold stays in place (resume lifts it). */
export function startRollout(client: Etcd3, group: string, version: string, maxConcurrent: number): Promise<GroupUpdate> {
  return putUpdate(client, group, (u) => ({ version, maxConcurrent, held: u?.held ?? false }));
}

export function holdRollout(client: Etcd3, group: string): Promise<GroupUpdate> {
  return putUpdate(client, group, (u) => {
    if (!u) throw new RolloutValidationError('group', `${group} has no rollout to hold (berthctl fleet update first)`);
    return { ...u, held: true };
  });
}

/** Clears the hold and the halt: failed hosts give their slots back, and the rollout goes on. */
export async function resumeRollout(client: Etcd3, group: string): Promise<void> {
  for (;;) {
    const view = await readGroup(client, group);
    const failedHosts = view.sem.failed.map((f) => f.host);
    const ops = [
      ...(view.update?.held ? [client.put(updateKey(group)).value(JSON.stringify({ ...view.update, held: false }))] : []),
      ...(failedHosts.length > 0 ? [client.put(semaphoreKey(group)).value(JSON.stringify(withResume(view.sem)))] : []),
    ];
    if (ops.length === 0) return;
    const res = await client
      .if(semaphoreKey(group), 'Mod', '==', view.semRevision)
      .and(updateKey(group), 'Mod', '==', view.updateRevision)
      .then(...ops, ...failedHosts.map((h) => client.delete().key(slotKey(group, h))))
      .commit();
    if (res.succeeded) return;
  }
}

/** A request that names a group without the rollout it needs; `path` names the field (the API's mapping). */
export class RolloutValidationError extends Error {
  override readonly name = 'RolloutValidationError';
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
  }
}
