// Regression (chaos R2 under load): a start that died in Tasks.Create while containerd went away left its
// container; the stop that followed could not remove it either (containerd still down). Once the runtime
// answers again, the stopped unit's container must be removed, not leaked for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateUnit } from '../../src/units/index.js';
import { RuntimeUnavailableError } from '../../src/runtime/errors.js';
import { LABELS, type ManagedContainer, type Runtime, type RunningTask, type RuntimeEvent } from '../../src/runtime/types.js';
import { waitFor } from '../support/wait.js';
import { planned, testImages, testSupervisor } from '../support/supervisor.js';

/** A runtime that can "go away": while down, every call fails as containerd's would. */
class FlakyRuntime implements Runtime {
  readonly name = 'flaky';
  readonly namespace = 'test';
  readonly images = testImages();
  readonly containers = new Map<string, Record<string, string>>();
  down = false;
  private readonly events: RuntimeEvent[] = [];
  private wake: (() => void) | undefined;

  private check(what: string): void {
    if (this.down) throw new RuntimeUnavailableError(`${what}: Connection dropped`);
  }
  emit(ev: RuntimeEvent): void {
    this.events.push(ev);
    this.wake?.();
  }
  async listManaged(): Promise<ManagedContainer[]> {
    this.check('containers.List');
    return [...this.containers].map(([id, labels]) => ({ id, labels }));
  }
  async create(id: string, _image: string, _spec: object, labels: Record<string, string>): Promise<void> {
    this.check('containers.Create');
    this.containers.set(id, labels);
  }
  async start(): Promise<RunningTask> {
    // containerd dies inside Tasks.Create: the container exists, the task does not.
    this.down = true;
    throw new RuntimeUnavailableError('tasks.Create: Connection dropped');
  }
  async adopt(): Promise<RunningTask> {
    throw new Error('not used');
  }
  async rewait(): Promise<RunningTask> {
    throw new Error('not used');
  }
  async signal(): Promise<void> {
    this.check('tasks.Kill');
  }
  async remove(id: string): Promise<void> {
    this.check('containers.Delete');
    this.containers.delete(id);
  }
  async exec(): Promise<never> {
    throw new Error('no exec');
  }
  async taskState(): Promise<undefined> {
    this.check('tasks.Get');
    return undefined;
  }
  async *watch(signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
    signal.addEventListener('abort', () => this.wake?.(), { once: true });
    while (!signal.aborted) {
      const ev = this.events.shift();
      if (ev) {
        yield ev;
        continue;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

test('a stopped unit whose container could not be removed while the runtime was gone loses it once the runtime is back', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-leftover-'));
  const runtime = new FlakyRuntime();
  const sup = testSupervisor(runtime, dir);
  try {
    const r = validateUnit({ name: 'tog', class: 'host', image: 'localhost/x:1', 'persistent-storage': false });
    assert.ok(r.ok);
    await sup.setDesired(planned([r.unit], () => 'running'));
    await sup.run();
    await waitFor(() => sup.get('tog')?.state === 'backing-off', 5_000, 'the failed start backs off');
    assert.equal(runtime.containers.get('tog')?.[LABELS.unit], 'tog', 'the half-made container is still there');

    const stopped = await sup.stop('tog');
    assert.equal(stopped.state, 'stopped');
    assert.ok(runtime.containers.has('tog'), 'the stop could not remove it: the runtime is down');

    runtime.down = false;
    runtime.emit({ kind: 'resync' });
    await waitFor(() => !runtime.containers.has('tog'), 5_000, 'the leftover container is removed after the resync');
    assert.equal(sup.get('tog')?.state, 'stopped');
  } finally {
    sup.close();
    await rm(dir, { recursive: true, force: true });
  }
});
