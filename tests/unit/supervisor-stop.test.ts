// Issue 16: a stop reports each step (signal, SIGKILL after the timeout, the exit); a unit stopped on
// request stays stopped when the same configuration is applied again; stop-all leaves no container behind,
// not even one no unit claims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateUnit } from '../../src/units/index.js';
import type { UnitSpec } from '../../src/units/types.js';
import { LABELS, type ExitInfo, type ManagedContainer, type Runtime, type RunningTask, type RuntimeEvent } from '../../src/runtime/types.js';
import type { StopProgress } from '../../src/supervisor/types.js';
import type { Supervisor } from '../../src/supervisor/supervisor.js';
import { planned, testImages, testSupervisor } from '../support/supervisor.js';

/** Tasks that end on the signals the test says they heed (SIGKILL always); containers kept as labels. */
class SignalRuntime implements Runtime {
  readonly name = 'signals';
  readonly namespace = 'test';
  readonly images = testImages();
  readonly containers = new Map<string, Record<string, string>>();
  readonly signals: [string, number][] = [];
  /** Signals a unit's task exits on, besides SIGKILL. */
  heeds = new Map<string, number[]>();
  private readonly exits = new Map<string, (e: ExitInfo) => void>();
  private pid = 100;
  async listManaged(): Promise<ManagedContainer[]> {
    return [...this.containers].map(([id, labels]) => ({ id, labels }));
  }
  async create(id: string, _image: string, _spec: object, labels: Record<string, string>): Promise<void> {
    this.containers.set(id, labels);
  }
  async start(id: string): Promise<RunningTask> {
    return { pid: ++this.pid, exited: new Promise<ExitInfo>((resolve) => this.exits.set(id, resolve)) };
  }
  async adopt(id: string): Promise<RunningTask> {
    return this.start(id);
  }
  async rewait(id: string): Promise<RunningTask> {
    return this.start(id);
  }
  async signal(id: string, signal: number): Promise<void> {
    this.signals.push([id, signal]);
    if (signal === 9 || (this.heeds.get(id) ?? [15]).includes(signal)) this.exits.get(id)?.({ exitCode: 128 + signal, at: new Date() });
  }
  async remove(id: string): Promise<void> {
    this.containers.delete(id);
  }
  async exec(): Promise<never> {
    throw new Error('no exec');
  }
  async taskState(): Promise<undefined> {
    return undefined;
  }
  async *watch(signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
  }
}

function unit(name: string, stopTimeout = '10s'): UnitSpec {
  const r = validateUnit({ name, class: 'host', image: 'localhost/x:1', 'persistent-storage': false, stop: { timeout: stopTimeout } });
  assert.ok(r.ok, JSON.stringify(r));
  return r.unit;
}

async function withSupervisor(specs: UnitSpec[], fn: (sup: Supervisor, runtime: SignalRuntime) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-stop-'));
  const runtime = new SignalRuntime();
  const sup = testSupervisor(runtime, dir);
  // The supervisor's stop timers are unref'd (they must not keep berthd alive); here nothing else would
  // keep the event loop running while a stop waits.
  const alive = setInterval(() => undefined, 1000);
  try {
    await sup.setDesired(planned(specs, () => 'running'));
    await sup.run();
    for (const s of specs) assert.equal(sup.get(s.name)?.state, 'running');
    await fn(sup, runtime);
  } finally {
    clearInterval(alive);
    sup.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const shape = (p: StopProgress): string => [p.unit, p.phase, p.signal, p.timeoutMs, p.exitCode, p.message].filter((x) => x !== undefined).join(' ');

test('a stop reports the signal and its timeout, then the exit; one that ignores the signal reports SIGKILL after the timeout', async () => {
  await withSupervisor([unit('polite'), unit('stubborn', '50ms')], async (sup, runtime) => {
    runtime.heeds.set('stubborn', []);
    const seen: StopProgress[] = [];
    await sup.stop('polite', (p) => seen.push(p));
    assert.deepEqual(seen.map(shape), ['polite signal SIGTERM 10000', 'polite stopped 143']);
    assert.equal(seen[0]!.elapsedMs, 0);

    seen.length = 0;
    const started = Date.now();
    await sup.stop('stubborn', (p) => seen.push(p));
    assert.deepEqual(seen.map(shape), ['stubborn signal SIGTERM 50', 'stubborn kill SIGKILL', 'stubborn stopped 137']);
    assert.ok(seen[1]!.elapsedMs >= 50 && seen[2]!.elapsedMs >= seen[1]!.elapsedMs, JSON.stringify(seen));
    assert.ok(seen[2]!.elapsedMs <= Date.now() - started);
    assert.deepEqual(runtime.signals.filter(([id]) => id === 'stubborn').map(([, s]) => s), [15, 9]);

    // Already stopped: nothing to signal, said so.
    seen.length = 0;
    await sup.stop('polite', (p) => seen.push(p));
    assert.deepEqual(seen.map(shape), ['polite not-running stopped']);
  });
});

test('a unit stopped on request stays stopped when the same configuration is applied again; off and on again runs it', async () => {
  const a = unit('a');
  await withSupervisor([a], async (sup) => {
    await sup.stop('a');
    await sup.setDesired(planned([a], () => 'running')); // any settings commit re-applies the desired state
    assert.deepEqual([sup.get('a')?.state, sup.get('a')?.desired], ['stopped', 'stopped']);
    // A new spec for it is taken, still stopped.
    const a2 = unit('a', '3s');
    await sup.setDesired(planned([a2], () => 'running'));
    assert.equal(sup.get('a')?.state, 'stopped');
    // Its configuration turns it off, then on: that is a request to run it.
    await sup.setDesired(planned([a2], () => 'stopped'));
    await sup.setDesired(planned([a2], () => 'running'));
    assert.equal(sup.get('a')?.state, 'running');
    // And `start` after a stop, as before.
    await sup.stop('a');
    await sup.start('a');
    assert.equal(sup.get('a')?.state, 'running');
    await sup.setDesired(planned([a2], () => 'running'));
    assert.equal(sup.get('a')?.state, 'running');
  });
});

test('stop-all stops every unit at once, keeps them known, and removes every container, even one no unit claims', async () => {
  await withSupervisor([unit('one', '40ms'), unit('two', '40ms'), unit('three')], async (sup, runtime) => {
    runtime.heeds.set('one', []);
    runtime.heeds.set('two', []);
    runtime.containers.set('orphan', { [LABELS.unit]: 'gone' });
    const seen: StopProgress[] = [];
    const started = Date.now();
    await sup.stopAll((p) => seen.push(p));
    // In parallel: two 40 ms timeouts cost one, not two (and nowhere near three's 10 s).
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(seen.filter((p) => p.phase === 'stopped').map((p) => p.unit).sort(), ['one', 'three', 'two']);
    assert.deepEqual([...runtime.containers.keys()], []);
    assert.deepEqual(sup.list().map((u) => [u.name, u.state, u.desired]).sort(), [['one', 'stopped', 'stopped'], ['three', 'stopped', 'stopped'], ['two', 'stopped', 'stopped']]);
    await sup.setDesired(planned([unit('one', '40ms'), unit('two', '40ms'), unit('three')], () => 'running'));
    assert.ok(sup.list().every((u) => u.state === 'stopped'), 'a settings commit brings nothing back');
    assert.equal((await sup.start('three')).state, 'running');
  });
});
