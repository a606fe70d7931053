import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { specHash, validateUnit } from '../../src/units/index.js';
import { LABELS, type ExitInfo, type ManagedContainer, type Runtime, type RunningTask, type RuntimeEvent } from '../../src/runtime/types.js';
import { planned, testImages, testSupervisor } from '../support/supervisor.js';

/** A runtime holding one running task, left by a previous berthd, whose labels say which unit and spec. */
class LeftoverRuntime implements Runtime {
  readonly name = 'leftover';
  readonly namespace = 'test';
  readonly images = testImages();
  started = 0;
  constructor(private readonly leftover: ManagedContainer) {}
  async listManaged(): Promise<ManagedContainer[]> {
    return [this.leftover];
  }
  async create(): Promise<void> {}
  async start(): Promise<RunningTask> {
    this.started++;
    return { pid: 999, exited: new Promise<ExitInfo>(() => undefined) };
  }
  async adopt(): Promise<RunningTask> {
    return { pid: this.leftover.task!.pid, exited: new Promise<ExitInfo>(() => undefined) };
  }
  async rewait(): Promise<RunningTask> {
    return this.adopt();
  }
  async signal(): Promise<void> {}
  async remove(): Promise<void> {}
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

test('adoption goes stopped → starting → running (never straight to running), and keeps the task', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-adopt-'));
  const r = validateUnit({ name: 'kept', class: 'host', image: 'localhost/x:1', 'persistent-storage': false });
  assert.ok(r.ok);
  const runtime = new LeftoverRuntime({ id: 'kept', labels: { [LABELS.unit]: 'kept', [LABELS.specHash]: specHash(r.unit) }, task: { pid: 4242, status: 'running' } });
  const sup = testSupervisor(runtime, dir);
  try {
    await sup.setDesired(planned([r.unit], () => 'running'));
    await sup.run();
    const kept = sup.get('kept')!;
    assert.equal(kept.state, 'running');
    assert.equal(kept.pid, 4242);
    assert.deepEqual(kept.events.map((e) => e.state), ['starting', 'running']);
    assert.match(kept.events.at(-1)!.message, /adopted/);
    // start on the adopted (running) unit is a no-op, not running → preparing.
    const again = await sup.start('kept');
    assert.equal(again.pid, 4242);
    assert.equal(runtime.started, 0, 'nothing was launched');
  } finally {
    sup.close();
    await rm(dir, { recursive: true, force: true });
  }
});
