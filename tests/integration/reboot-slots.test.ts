// The reboot semaphore's compare-and-swap under real concurrency (src/fleet/slot-client.ts): many clients,
// each its own etcd connection, race for 3 slots of one group on a real 3-member etcd cluster, with the
// leader SIGKILLed in the middle. The invariant is read from etcd's revision history (a watch from revision 1
// over the semaphore and slot keys), not from the clients. Then the waits an operator's reboot bounds: given up
// after maxWaitMs with the reason etcd gives, a slot freed meanwhile taken, an abort (a rollout's wait), and a
// grant whose answer was lost given back when the caller is gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { TestEtcdCluster } from '../support/etcd.js';
import { waitFor } from '../support/wait.js';
import { acquireSlot, releaseSlot, SlotWaitExpired } from '../../src/fleet/slot-client.js';
import { semaphoreKey, slotKey, slotsPrefix, updateKey } from '../../src/fleet/reboot-slots.js';

/** As berthd's (src/fleet/etcd-session.ts): unary calls have a deadline, so one sent to a killed member fails over. */
function client(): Etcd3 {
  return new Etcd3({ hosts: etcd.endpoints, dialTimeout: 5000, defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }) });
}

const GROUP = 'race';
const CLIENTS = 16;
const MAX = 3;
let etcd: TestEtcdCluster;
let kv: Etcd3;

before(async () => {
  etcd = await TestEtcdCluster.start();
  kv = client();
});

after(async () => {
  kv?.close();
  await etcd?.stop();
});

interface Event { revision: number; key: string; type: 'put' | 'delete'; value: string }

async function history(): Promise<Event[]> {
  const end = `/berth/${GROUP}/reboot-~end`;
  const events: Event[] = [];
  // A fresh connection: the shared one may still point at the member the test killed.
  const kv = client();
  const watcher = await kv.watch().prefix(`/berth/${GROUP}/reboot-`).startRevision('1').create();
  try {
    await new Promise<void>((resolve, reject) => {
      watcher.on('error', reject);
      const on = (type: 'put' | 'delete') => (k: { key: Buffer; value: Buffer; mod_revision: string }) => {
        if (k.key.toString() === end) return resolve();
        events.push({ revision: Number(k.mod_revision), key: k.key.toString(), type, value: k.value.toString() });
      };
      watcher.on('put', on('put'));
      watcher.on('delete', on('delete'));
      void kv.put(end).value('').catch(reject);
    });
  } finally {
    await watcher.cancel();
    kv.close();
  }
  return events;
}

test(`${CLIENTS} hosts racing for ${MAX} slots (etcd leader SIGKILLed meanwhile): never more than ${MAX} holders, every host had its turn`, async () => {
  await kv.put(updateKey(GROUP)).value(JSON.stringify({ version: '2.0.0', maxConcurrent: MAX, held: false }));
  const clients = Array.from({ length: CLIENTS }, client);
  let concurrent = 0;
  let peak = 0;
  try {
    const leaderKill = (async () => {
      const leader = await etcd.leader();
      await etcd.kill(leader);
      await etcd.restart(leader);
    })();
    await Promise.all(clients.map(async (c, i) => {
      const id = `h${i}`;
      await acquireSlot(c, GROUP, id, { hostMax: () => 1, slot: { from: '1.0.0', to: '2.0.0', since: new Date().toISOString() } });
      peak = Math.max(peak, ++concurrent);
      // "Reboot": give the others a chance to race for the slot meanwhile.
      await new Promise((r) => setImmediate(r));
      concurrent--;
      await releaseSlot(c, GROUP, id);
    }));
    await leaderKill;
  } finally {
    for (const c of clients) c.close();
  }
  const events = await history();
  const held = new Set<string>();
  let keys = 0;
  let sem = 0;
  for (const e of events) {
    if (e.key === semaphoreKey(GROUP)) {
      sem = Math.max(sem, (JSON.parse(e.value) as { holders: string[] }).holders.length);
    } else if (e.key.startsWith(slotsPrefix(GROUP))) {
      if (e.type === 'put') held.add(e.key);
      else held.delete(e.key);
      keys = Math.max(keys, held.size);
    }
  }
  assert.ok(keys <= MAX, `slot keys held at once: ${keys}`);
  assert.ok(sem <= MAX, `semaphore holders at once: ${sem}`);
  assert.ok(peak <= MAX, `clients holding at once: ${peak}`);
  assert.equal(events.filter((e) => e.type === 'put' && e.key.startsWith(slotsPrefix(GROUP))).length, CLIENTS, 'one grant per host');
  assert.equal(held.size, 0, 'every slot given back');
});

const SLOT = { from: '1.0.0', to: '2.0.0', since: '2026-12-03T07:00:00.000Z' };

async function holders(group: string): Promise<string[]> {
  const text = await kv.get(semaphoreKey(group)).string();
  return text ? (JSON.parse(text) as { holders: string[] }).holders : [];
}

test('a bounded wait: given up after maxWaitMs with etcd\'s reason and nothing written; a slot freed within it is taken', async () => {
  const g = 'bounded';
  await kv.put(semaphoreKey(g)).value(JSON.stringify({ holders: ['a', 'b'], failed: [] }));
  const c = client();
  try {
    const t0 = Date.now();
    const err = await acquireSlot(c, g, 'w', { hostMax: () => 2, slot: SLOT, maxWaitMs: 600 }).then(() => undefined, (e: unknown) => e);
    const took = Date.now() - t0;
    assert.ok(err instanceof SlotWaitExpired, String(err));
    assert.equal(err.reason, 'all 2 reboot slots are held (a, b)');
    assert.ok(took >= 600 && took < 5000, `gave up after ${took} ms`);
    // Only a slot free now (0): refused at once.
    await assert.rejects(acquireSlot(c, g, 'w', { hostMax: () => 2, slot: SLOT, maxWaitMs: 0 }), SlotWaitExpired);
    assert.deepEqual(await holders(g), ['a', 'b']);
    assert.equal(await kv.get(slotKey(g, 'w')).string(), null);

    const waiting = acquireSlot(c, g, 'w', { hostMax: () => 2, slot: SLOT, maxWaitMs: 20_000 });
    await kv.put(semaphoreKey(g)).value(JSON.stringify({ holders: ['a'], failed: [] }));
    await waiting;
    assert.deepEqual(await holders(g), ['a', 'w']);
  } finally {
    c.close();
  }
});

test('a wait without bound (a rollout\'s) ends when its signal aborts, leaving nothing in etcd', async () => {
  const g = 'aborted';
  await kv.put(semaphoreKey(g)).value(JSON.stringify({ holders: ['a'], failed: [] }));
  const c = client();
  const stop = new AbortController();
  try {
    let said = '';
    const waiting = acquireSlot(c, g, 'w', { hostMax: () => 1, slot: SLOT, signal: stop.signal, waiting: (r) => (said = r) });
    await waitFor(() => said !== '', 5000, 'the host to wait');
    stop.abort();
    await assert.rejects(waiting, { name: 'AbortError' });
    assert.deepEqual(await holders(g), ['a']);
    assert.equal(await kv.get(slotKey(g, 'w')).string(), null);
  } finally {
    c.close();
  }
});

test('a grant whose answer was lost, then the caller gone: the slot it may hold is given back', async () => {
  const g = 'lost';
  const c = client();
  const stop = new AbortController();
  // etcd commits the grant; the answer never arrives (and the caller leaves meanwhile).
  let commits = 0;
  const lossy = new Proxy(c, {
    get(target, prop, receiver) {
      if (prop !== 'if') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: Parameters<Etcd3['if']>) => {
        const builder = target.if(...args);
        const commit = builder.commit.bind(builder);
        builder.commit = async () => {
          const res = await commit();
          // The first commit is the read of the group, the second the grant.
          if (++commits === 2) {
            stop.abort();
            throw new Error('lost answer (test)');
          }
          return res;
        };
        return builder;
      };
    },
  });
  try {
    await assert.rejects(acquireSlot(lossy, g, 'w', { hostMax: () => 1, slot: SLOT, signal: stop.signal }), { name: 'AbortError' });
    assert.deepEqual(await holders(g), [], 'given back');
    assert.equal(await kv.get(slotKey(g, 'w')).string(), null);
    // Granted, then given back: the semaphore key was written twice.
    assert.equal(Number((await kv.get(semaphoreKey(g)).exec()).kvs[0]?.version), 2, 'the grant committed, then the release');
  } finally {
    c.close();
  }
});
