// The reboot semaphore's operations over etcd (./reboot-slots.ts has the keys, the rules and the CAS): a host
// acquires, releases or fails its slot; an operator (through any host's berthd) starts, holds or resumes the
// group's rollout. Every write is a compare-and-swap retried on conflict; waits watch the two keys.

import type { Etcd3, Watcher } from 'etcd3';
import { onAbort } from '../util/abort.js';
import {
  commitSemaphore, decideGrant, readGroup, semaphoreKey, slotKey, slotsPrefix, updateKey, withFailure, withRelease, withResume,
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
  /**
   * Gives up (SlotWaitExpired) when no slot was granted within this long; 0: only a slot free now. Undefined:
   * waits as long as it takes (a fleet rollout, cancelled through `signal`).
   */
  readonly maxWaitMs?: number;
}

/** No slot within the wait; `reason` is the last one etcd gave (all held, a hold, a halt, etcd unreachable). */
export class SlotWaitExpired extends Error {
  override readonly name = 'SlotWaitExpired';
  constructor(readonly reason: string) {
    super(`no reboot slot: ${reason}`);
  }
}

/** A grant whose answer was lost, given back when the host stops waiting: given back at most this long. */
const WITHDRAW_MS = 10_000;

/** `signal`, also aborted at `deadline` (when one is set); `dispose` stops its timer. */
function untilDeadline(signal: AbortSignal | undefined, deadline: number | undefined): { signal: AbortSignal | undefined; dispose: () => void } {
  if (deadline === undefined) return { signal, dispose: () => undefined };
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(), Math.max(0, deadline - Date.now()));
  const stop = onAbort(signal, () => c.abort());
  if (signal?.aborted) c.abort();
  return { signal: c.signal, dispose: () => (clearTimeout(timer), stop()) };
}

/** One read at least, then retries (an etcd outage) until it works, `deadline` passes (undefined) or `signal` aborts. */
async function readBefore(client: Etcd3, group: string, deadline: number | undefined, signal: AbortSignal | undefined, onError: (err: string) => void): Promise<GroupView | undefined> {
  for (;;) {
    try {
      return await readGroup(client, group);
    } catch (err) {
      onError(message(err));
    }
    if (deadline !== undefined && Date.now() >= deadline) return undefined;
    signal?.throwIfAborted();
    await pause(deadline === undefined ? RETRY_MS : Math.min(RETRY_MS, deadline - Date.now()), signal);
    signal?.throwIfAborted();
  }
}

/**
 * Takes a slot for `hostId`; resolves once this host is a holder. It waits (a hold, a halt, all slots held)
 * until `signal` aborts or, with `maxWaitMs`, until the wait is over: then SlotWaitExpired, after one last
 * read (a slot freed at the last moment is taken; the refusal names what etcd says now). A host that stops
 * waiting leaves nothing in etcd: waiting writes nothing, and a grant whose answer was lost (it may have
 * committed) is given back. Idempotent: a host that holds one already (a retry after a lost answer, a reboot
 * whose command failed) has it: 'holding', where 'granted' is a slot this call took.
 */
export async function acquireSlot(client: Etcd3, group: string, hostId: string, o: AcquireOptions): Promise<'granted' | 'holding'> {
  const deadline = o.maxWaitMs === undefined ? undefined : Date.now() + o.maxWaitMs;
  let said = '';
  let reason = '';
  let unsure = false;
  const tell = (r: string): void => {
    reason = r;
    if (r !== said) o.waiting?.((said = r));
  };
  try {
    for (;;) {
      const view = await readBefore(client, group, deadline, o.signal, (e) => tell(`etcd: ${e}`));
      if (!view) throw new SlotWaitExpired(reason);
      // A caller gone while a lost grant's outcome was unknown: it may hold one now, given back below.
      o.signal?.throwIfAborted();
      const d = decideGrant(view.sem, view.update, hostId, o.hostMax());
      // Held after a grant of this call whose answer was lost: this call's.
      if (d.kind === 'holding') return unsure ? 'granted' : 'holding';
      if (d.kind === 'granted') {
        try {
          if (await commitSemaphore(client, group, view, d.next, { hostId, value: o.slot })) return 'granted';
        } catch (err) {
          // Unknown outcome (the answer was lost): the next read tells whether it committed.
          unsure = true;
          tell(`etcd: ${message(err)}`);
          await pause(RETRY_MS, o.signal);
        }
        continue;
      }
      tell(d.reason);
      if (deadline !== undefined && Date.now() >= deadline) throw new SlotWaitExpired(reason);
      const wait = untilDeadline(o.signal, deadline);
      await waitGroupChange(client, group, view.revision, wait.signal).catch(() => pause(RETRY_MS, wait.signal)).finally(wait.dispose);
      o.signal?.throwIfAborted();
    }
  } catch (err) {
    if (unsure) await releaseSlot(client, group, hostId, AbortSignal.timeout(WITHDRAW_MS)).catch(() => undefined);
    throw err;
  }
}

/** The slots held now (host → what it holds the slot for), as the slot keys say. */
export async function readSlots(client: Etcd3, group: string): Promise<Map<string, SlotValue>> {
  const all = await client.getAll().prefix(slotsPrefix(group)).strings();
  const out = new Map<string, SlotValue>();
  for (const [key, text] of Object.entries(all)) {
    try {
      out.set(key.slice(slotsPrefix(group).length), JSON.parse(text) as SlotValue);
    } catch {
      /* a slot key written by hand: its holder is still named by the semaphore */
    }
  }
  return out;
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
