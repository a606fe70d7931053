import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateUnit } from '../../src/units/index.js';
import type { ExitInfo, ManagedContainer, Runtime, RunningTask, RuntimeEvent } from '../../src/runtime/types.js';
import { planned, testImages, testSupervisor } from '../support/supervisor.js';

/** A runtime whose tasks exit when the test says so (berth's own interface; containerd is not involved). */
class ScriptedRuntime implements Runtime {
  readonly name = 'scripted';
  readonly namespace = 'test';
  readonly images = testImages();
  readonly exits = new Map<string, (e: ExitInfo) => void>();
  private pid = 100;
  async listManaged(): Promise<ManagedContainer[]> {
    return [];
  }
  async create(): Promise<void> {}
  async start(id: string): Promise<RunningTask> {
    return { pid: ++this.pid, exited: new Promise<ExitInfo>((resolve) => this.exits.set(id, resolve)) };
  }
  async adopt(id: string): Promise<RunningTask> {
    return this.start(id);
  }
  async rewait(id: string): Promise<RunningTask> {
    return this.start(id);
  }
  async signal(id: string): Promise<void> {
    this.exits.get(id)?.({ exitCode: 143, at: new Date() });
  }
  /** While set, remove() waits: the window in which an exit is being handled. */
  removeGate: Promise<void> | undefined;
  async remove(): Promise<void> {
    await this.removeGate;
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

test('a unit that exits on its own just as it is stopped ends stopped, and stop() succeeds', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-race-'));
  const runtime = new ScriptedRuntime();
  const sup = testSupervisor(runtime, dir);
  try {
    const r = validateUnit({ name: 'racer', class: 'host', image: 'localhost/x:1', 'persistent-storage': false });
    assert.ok(r.ok);
    await sup.setDesired(planned([r.unit], () => 'running'));
    await sup.run();
    assert.equal(sup.get('racer')?.state, 'running');
    let open!: () => void;
    runtime.removeGate = new Promise((r) => (open = r));
    runtime.exits.get('racer')!({ exitCode: 1, at: new Date() }); // exits by itself…
    await new Promise((r) => setImmediate(r)); // the supervisor is now handling that exit
    const stopping = sup.stop('racer'); // …when the stop request arrives
    open();
    const stopped = await stopping;
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.pid, 0);
  } finally {
    sup.close();
    await rm(dir, { recursive: true, force: true });
  }
});
