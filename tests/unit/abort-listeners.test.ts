// Long-lived waits on an AbortSignal leave no listener behind (issue 20's soak): an events watch and a
// `logs -f` follower wait once per event or line on the same signal; each wait used to add an `abort`
// listener that stayed until the signal aborted (Node warned of a leak after 11).
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { onAbort, wakeOrAbort } from '../../src/util/abort.js';
import { EventBus } from '../../src/supervisor/events.js';
import { LogStore } from '../../src/supervisor/log-store.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { untilAborted } from '../../src/api/calls.js';

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

test('wakeOrAbort: woken, aborted or already aborted — no listener stays; onAbort stops listening', async () => {
  const ac = new AbortController();
  for (let i = 0; i < 20; i++) await wakeOrAbort(ac.signal, (wake) => setImmediate(wake));
  assert.equal(listeners(ac.signal), 0);
  const pending = wakeOrAbort(ac.signal, () => undefined);
  assert.equal(listeners(ac.signal), 1);
  ac.abort();
  await pending;
  await wakeOrAbort(ac.signal, () => assert.fail('an aborted signal must not arm a wait'));
  const other = new AbortController();
  let fired = 0;
  const stop = onAbort(other.signal, () => fired++);
  stop();
  other.abort();
  assert.equal(fired, 0);
  assert.equal(listeners(other.signal), 0);
});

test('an events watch that received 100 events holds at most one abort listener', async () => {
  const bus = new EventBus();
  const ac = new AbortController();
  const seen: string[] = [];
  const reading = (async () => {
    for await (const e of bus.stream(ac.signal)) {
      seen.push(e.message);
      if (seen.length === 100) return;
    }
  })();
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setImmediate(r));
    bus.emit({ kind: 'daemon', message: `m${i}`, at: new Date().toISOString() });
  }
  await reading;
  assert.equal(seen.length, 100);
  assert.ok(listeners(ac.signal) <= 1, `${listeners(ac.signal)} abort listeners`);
  ac.abort();
});

test('a logs follower that received 100 lines holds at most one abort listener', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-abort-'));
  const store = new LogStore(dir);
  try {
    const ac = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const l of store.read('u', { follow: true, signal: ac.signal })) {
        seen.push(l.line);
        if (seen.length === 100) return;
      }
    })();
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setImmediate(r));
      await store.append('u', 'stdout', `line ${i}`);
    }
    await reading;
    assert.equal(seen.length, 100);
    assert.ok(listeners(ac.signal) <= 1, `${listeners(ac.signal)} abort listeners`);
    ac.abort();
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

// Found by the soak (issue 20): `untilAborted` raced every item against one promise for the whole stream,
// and each race left a reaction on it holding that item until the stream ended. A `logs -f` follower or an
// events watch kept every line or event it had ever sent: berthd's live heap grew for as long as it ran.
test('untilAborted keeps nothing of what it already yielded while the stream runs', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let collected = 0;
  const registry = new FinalizationRegistry<number>(() => collected++);
  async function* source(): AsyncGenerator<{ i: number; payload: number[] }> {
    for (let i = 0; i < 300; i++) {
      const item = { i, payload: new Array<number>(64).fill(i) };
      registry.register(item, i);
      yield item;
    }
  }
  const ac = new AbortController(); // never aborted: a follower still following
  let seen = 0;
  for await (const item of untilAborted(source(), ac.signal)) {
    seen = item.i + 1;
    if (seen === 250) {
      // Collect while the stream is still open; finalizers run in a later task, so give them a few turns.
      for (let turn = 0; turn < 50 && collected < 200; turn++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      assert.ok(collected >= 200, `only ${collected} of the 249 items already yielded were collected`);
    }
  }
  assert.equal(seen, 300);
});

test('untilAborted: an abort ends a stream parked on an item that never comes, leaving no listener', async () => {
  const ac = new AbortController();
  async function* stuck(): AsyncGenerator<number> {
    yield 1;
    await new Promise(() => undefined);
  }
  const got: number[] = [];
  const run = (async () => {
    for await (const n of untilAborted(stuck(), ac.signal)) {
      got.push(n);
      setImmediate(() => ac.abort());
    }
  })();
  await run;
  assert.deepEqual(got, [1]);
  assert.equal(listeners(ac.signal), 0);
});
