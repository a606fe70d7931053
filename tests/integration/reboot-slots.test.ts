// The reboot semaphore's compare-and-swap under real concurrency (src/fleet/slot-client.ts): many clients,
// each its own etcd connection, race for 3 slots of one group on a real 3-member etcd cluster, with the
// leader SIGKILLed in the middle. The invariant is read from etcd's revision history (a watch from revision 1
// over the semaphore and slot keys), not from the clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { TestEtcdCluster } from '../support/etcd.js';
import { acquireSlot, releaseSlot } from '../../src/fleet/slot-client.js';
import { semaphoreKey, slotsPrefix, updateKey } from '../../src/fleet/reboot-slots.js';

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
