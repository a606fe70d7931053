import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { backoffDelay, nextAttempt, DEFAULT_BACKOFF } from '../../src/supervisor/backoff.js';
import { shouldRestart } from '../../src/supervisor/restart-policy.js';
import { canTransition } from '../../src/supervisor/state-machine.js';
import { EventRing } from '../../src/supervisor/events.js';
import { LogStore } from '../../src/supervisor/log-store.js';
import { desiredUnits } from '../../src/desired/index.js';
import { validateUnit } from '../../src/units/index.js';
import type { UnitSpec } from '../../src/units/types.js';

const mid = (): number => 0.5; // no jitter

test('backoff: 1 s doubling, capped at 5 min', () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((a) => backoffDelay(a, DEFAULT_BACKOFF, mid)), [1000, 2000, 4000, 8000, 16000]);
  assert.equal(backoffDelay(20, DEFAULT_BACKOFF, mid), 300_000);
  assert.equal(backoffDelay(100, DEFAULT_BACKOFF, mid), 300_000);
});

test('backoff: jitter stays within ±20 % and never exceeds the cap', () => {
  assert.equal(backoffDelay(2, DEFAULT_BACKOFF, () => 0), 3200);
  assert.equal(backoffDelay(2, DEFAULT_BACKOFF, () => 0.999999), 4800);
  assert.ok(backoffDelay(30, DEFAULT_BACKOFF, () => 0.999999) <= 300_000);
});

test('backoff: a stable run resets the attempt counter', () => {
  assert.equal(nextAttempt(5, 1000), 6);
  assert.equal(nextAttempt(5, DEFAULT_BACKOFF.stableAfterMs), 1);
});

test('restart policy: always, on-failure, never, and a stop on request', () => {
  assert.equal(shouldRestart('always', 0, false), true);
  assert.equal(shouldRestart('on-failure', 0, false), false);
  assert.equal(shouldRestart('on-failure', 1, false), true);
  assert.equal(shouldRestart('never', 1, false), false);
  assert.equal(shouldRestart('always', 1, true), false);
});

test('state machine: legal and illegal transitions', () => {
  assert.equal(canTransition('running', 'stopping'), true);
  assert.equal(canTransition('stopping', 'stopped'), true);
  assert.equal(canTransition('stopped', 'backing-off'), false);
  assert.equal(canTransition('stopping', 'running'), false);
  assert.equal(canTransition('exited', 'preparing'), true);
});

test('event ring keeps the last N', () => {
  const r = new EventRing<number>(3);
  for (let i = 0; i < 5; i++) r.push(i);
  assert.deepEqual(r.toArray(), [2, 3, 4]);
});

test('log store: an append has resolved only once its line is in the file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-logs-'));
  try {
    const store = new LogStore(dir, { maxBytes: 300, keep: 1 });
    for (let i = 0; i < 20; i++) {
      await store.append('u', 'stdout', `line-${i}`);
      // Read synchronously, with no turn of the event loop in between (rotation happens every few lines).
      const last = readFileSync(store.file('u'), 'utf8').trimEnd().split('\n').at(-1)!;
      assert.equal(JSON.parse(last).l, `line-${i}`);
    }
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('log store: timestamped lines, tail, follow, rotation', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-logs-'));
  try {
    const store = new LogStore(dir, { maxBytes: 400, keep: 2 });
    const src = new PassThrough();
    store.attach('u', 'stdout', src);
    src.write('one\ntwo\nthr');
    src.write('ee\n');
    await new Promise((r) => setImmediate(r));
    await store.append('u', 'stderr', 'err-line');
    const all: string[] = [];
    for await (const l of store.read('u', {})) all.push(`${l.stream}:${l.line}`);
    assert.deepEqual(all, ['stdout:one', 'stdout:two', 'stdout:three', 'stderr:err-line']);
    const tail: string[] = [];
    for await (const l of store.read('u', { tail: 2 })) tail.push(l.line);
    assert.deepEqual(tail, ['three', 'err-line']);
    const first = (await readFile(store.file('u'), 'utf8')).split('\n')[0]!;
    assert.match(JSON.parse(first).t, /^\d{4}-\d\d-\d\dT/);

    const ac = new AbortController();
    const followed: string[] = [];
    const done = (async () => {
      for await (const l of store.read('u', { tail: 0, follow: true, signal: ac.signal })) {
        followed.push(l.line);
        if (followed.length === 2) ac.abort();
      }
    })();
    await new Promise((r) => setImmediate(r));
    await store.append('u', 'stdout', 'live-1');
    await store.append('u', 'stdout', 'live-2');
    await done;
    assert.deepEqual(followed, ['live-1', 'live-2']);

    for (let i = 0; i < 30; i++) await store.append('u', 'stdout', `fill-${i}`);
    const rotated = await readFile(`${store.file('u')}.1`, 'utf8');
    assert.ok(rotated.length > 0);
    const lines: string[] = [];
    for await (const l of store.read('u', {})) lines.push(l.line);
    assert.equal(lines.at(-1), 'fill-29');
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function unit(raw: Record<string, unknown>): UnitSpec {
  const r = validateUnit(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.unit;
}

test('desired state: settings overlay templates, enable/disable, new host containers', () => {
  const loaded = new Map([
    ['admin', unit({ name: 'admin', class: 'host', image: 'localhost/berth/admin:latest', superpowered: true })],
    ['control', unit({ name: 'control', class: 'host', image: 'localhost/berth/control:latest' })],
    ['extra', unit({ name: 'extra', class: 'host', image: 'x/y:z' })],
  ]);
  const hosts = new Map([
    ['admin', { enabled: false, source: 'localhost/berth/admin:latest', superpowered: true, rollout: {} }],
    ['control', { enabled: true, source: 'registry.example/control:2', superpowered: false, userData: 'aGk=', rollout: {} }],
    ['mine', { enabled: true, source: 'localhost/mine:1', superpowered: false, rollout: {} }],
  ]);
  const d = desiredUnits(loaded, hosts, new Map());
  assert.deepEqual(d.errors, []);
  const byName = new Map(d.specs.map((s) => [s.name, s]));
  assert.equal(byName.get('control')!.image, 'registry.example/control:2');
  assert.equal(byName.get('control')!.userData, 'aGk=');
  assert.equal(byName.get('admin')!.superpowered, true);
  assert.equal(byName.get('admin')!.namespaces.hostPid, true);
  assert.equal(byName.get('mine')!.class, 'host');
  assert.deepEqual([...d.running].sort(), ['control', 'extra', 'mine']);
});

test('desired state: bootstrap containers from settings, mode off is not run', () => {
  const d = desiredUnits(new Map(), new Map(), new Map([
    ['prep', { source: 'localhost/prep:1', mode: 'once' as const, essential: true }],
    ['skip', { source: 'localhost/prep:1', mode: 'off' as const, essential: false }],
  ]));
  const prep = d.specs.find((s) => s.name === 'prep')!;
  assert.equal(prep.class, 'bootstrap');
  assert.deepEqual(prep.bootstrap, { mode: 'once', essential: true, order: 0 });
  assert.deepEqual([...d.running], ['prep']);
});

test('desired state: a setting naming a unit of another class is an error', () => {
  const loaded = new Map([['w', unit({ name: 'w', class: 'workload', image: 'x/y:1' })]]);
  const d = desiredUnits(loaded, new Map([['w', { enabled: true, source: 'x/y:1', superpowered: false, rollout: {} }]]), new Map());
  assert.match(d.errors[0]!, /host-containers\.w: unit w is a workload unit/);
});
