// The reboot semaphore's rules (src/fleet/reboot-slots.ts), pure: who gets a slot, when the group waits,
// what release, failure and resume leave. The etcd side (CAS under concurrency) is in
// tests/integration/fleet-rollout.test.ts against a real cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideGrant, decodeSemaphore, decodeUpdate, EMPTY_SEMAPHORE, withFailure, withRelease, withResume } from '../../src/fleet/reboot-slots.js';

const rollout = (o: Partial<{ version: string; maxConcurrent: number; held: boolean }> = {}) => ({ version: '2.0.0', maxConcurrent: 0, held: false, ...o });

test('slots are granted up to the limit; the rollout\'s max-concurrent wins over the host\'s setting', () => {
  let sem = EMPTY_SEMAPHORE;
  for (const h of ['a', 'b']) {
    const d = decideGrant(sem, rollout({ maxConcurrent: 2 }), h, 1);
    assert.equal(d.kind, 'granted', h);
    if (d.kind === 'granted') sem = d.next;
  }
  assert.deepEqual(sem.holders, ['a', 'b']);
  const third = decideGrant(sem, rollout({ maxConcurrent: 2 }), 'c', 5);
  assert.equal(third.kind, 'wait');
  assert.match(third.kind === 'wait' ? third.reason : '', /all 2 reboot slots are held \(a, b\)/);
  // No rollout (a plain reboot with strategy etcd) or max-concurrent 0: the host's fleet.max-concurrent-reboots.
  assert.equal(decideGrant({ holders: ['a'], failed: [] }, undefined, 'c', 1).kind, 'wait');
  assert.equal(decideGrant({ holders: ['a'], failed: [] }, rollout(), 'c', 2).kind, 'granted');
});

test('a holder asking again holds (a retry after a lost answer takes no second slot)', () => {
  assert.deepEqual(decideGrant({ holders: ['a', 'b'], failed: [] }, rollout({ maxConcurrent: 2 }), 'a', 2), { kind: 'holding' });
});

test('a hold or a failed host stops every new grant until resume', () => {
  const held = decideGrant(EMPTY_SEMAPHORE, rollout({ held: true }), 'a', 3);
  assert.equal(held.kind, 'wait');
  assert.match(held.kind === 'wait' ? held.reason : '', /on hold \(berthctl fleet resume\)/);
  const failed = withFailure({ holders: ['a'], failed: [] }, 'a', 'booted 1.0.0 instead of 2.0.0 (rolled back)');
  assert.deepEqual(failed, { holders: ['a'], failed: [{ host: 'a', reason: 'booted 1.0.0 instead of 2.0.0 (rolled back)' }] }, 'the failed host keeps its slot');
  const halted = decideGrant(failed, rollout({ maxConcurrent: 5 }), 'b', 5);
  assert.equal(halted.kind, 'wait');
  assert.match(halted.kind === 'wait' ? halted.reason : '', /halted: a failed \(booted 1\.0\.0 instead of 2\.0\.0 \(rolled back\)\)/);
  const resumed = withResume({ holders: ['a', 'c'], failed: failed.failed });
  assert.deepEqual(resumed, { holders: ['c'], failed: [] }, 'resume takes the failed host\'s slot back, keeps the others');
  assert.equal(decideGrant(resumed, rollout({ maxConcurrent: 2 }), 'b', 1).kind, 'granted');
});

test('release gives the slot back and forgets a failure of that host only', () => {
  assert.deepEqual(withRelease({ holders: ['a', 'b'], failed: [{ host: 'b', reason: 'x' }] }, 'a'), { holders: ['b'], failed: [{ host: 'b', reason: 'x' }] });
  assert.deepEqual(withRelease({ holders: ['a'], failed: [] }, 'z'), { holders: ['a'], failed: [] });
});

test('a malformed semaphore in etcd is an error, never an empty one (that would grant slots freely)', () => {
  assert.deepEqual(decodeSemaphore(undefined), EMPTY_SEMAPHORE);
  assert.throws(() => decodeSemaphore('{"holders":"a"}'), /reboot semaphore in etcd is unreadable/);
  assert.throws(() => decodeSemaphore('nope'), /unreadable/);
  assert.equal(decodeUpdate('{"version":1}'), undefined);
  assert.deepEqual(decodeUpdate('{"version":"2.0.0","maxConcurrent":2,"held":false}'), rollout({ maxConcurrent: 2 }));
});
