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
