// A run's exit is reported twice: by its task's wait and by containerd's event stream. Whichever comes
// first is handled; the other must not be. Regression (issue 18's rollout tests): the wait's report had
// bumped the unit's generation but its handling still sat in the unit's chain behind the rollout's own
// step, so the event's report (taking the bumped generation for the run's) was handled a second time —
// and that second handling removed the container the rollback had just started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeWatch } from '../../src/supervisor/runtime-watch.js';
import type { SupervisorDeps } from '../../src/supervisor/deps.js';
import type { DaemonStatus } from '../../src/supervisor/status.js';
import type { Reconciler } from '../../src/supervisor/reconciler.js';
import type { Runner } from '../../src/supervisor/runner.js';
import type { RestartWrapper } from '../../src/supervisor/restart.js';
import type { ExitInfo, ManagedContainer, RunningTask, RuntimeEvent } from '../../src/runtime/types.js';

interface FakeUnit { name: string; containerId: string; state: string; task: object | undefined; pid: number; generation: number; armedGeneration: number; desired: string }

function harness(units: FakeUnit[], taskState: (id: string) => ManagedContainer['task'] | undefined) {
  const events: RuntimeEvent[] = [];
  let wake: (() => void) | undefined;
  const observed: Array<{ unit: string; generation: number; exitCode: number }> = [];
  const rearmed: string[] = [];
  const runtime = {
    async taskState(id: string) {
      return taskState(id);
    },
    async rewait(): Promise<RunningTask> {
      return { pid: 1, exited: new Promise<ExitInfo>(() => undefined) };
    },
    async listManaged(): Promise<ManagedContainer[]> {
      return [];
    },
    async *watch(signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
      signal.addEventListener('abort', () => wake?.(), { once: true });
      while (!signal.aborted) {
        const ev = events.shift();
        if (ev) yield ev;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  };
  const deps = { runtime, logger: { error() {}, warn() {} } } as unknown as SupervisorDeps;
  const daemon = { runtimeDown() {}, announce() {}, runtimeUp: true } as unknown as DaemonStatus;
  const reconciler = { units: new Map(units.map((u) => [u.name, u])), summary: () => '' } as unknown as Reconciler;
  const runner = {
    exitObserved(u: FakeUnit, generation: number, exit: ExitInfo) {
      observed.push({ unit: u.name, generation, exitCode: exit.exitCode });
    },
    rearm(u: FakeUnit) {
      rearmed.push(u.name);
    },
  } as unknown as Runner;
  const watch = new RuntimeWatch(deps, daemon, reconciler, runner, {} as RestartWrapper);
  const done = watch.run();
  return {
    observed,
    rearmed,
    emit(ev: RuntimeEvent) {
      events.push(ev);
      wake?.();
    },
    async close() {
      watch.close();
      await done;
    },
    watch,
  };
}

const running = (name: string, generation: number, armedGeneration: number): FakeUnit => ({
  name, containerId: name, state: 'running', task: {}, pid: 40 + generation, generation, armedGeneration, desired: 'running',
});

test('an exit event for a run whose exit the wait already reported is not handled again', async () => {
  // `late`: its wait reported the exit (generation moved past the armed one); the handling has not run yet,
  // so the unit still looks running. `fresh`: nothing reported it yet.
  const h = harness([running('late', 6, 5), running('fresh', 3, 3)], () => ({ pid: 0, status: 'stopped', exitStatus: 1 }));
  try {
    h.emit({ kind: 'exit', id: 'late', exitCode: 1 });
    h.emit({ kind: 'exit', id: 'fresh', exitCode: 2 });
    const deadline = Date.now() + 5000;
    while (h.observed.length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    // Events are handled in order: once `fresh` is observed, `late` was already looked at.
    assert.deepEqual(h.observed, [{ unit: 'fresh', generation: 3, exitCode: 1 }]);
  } finally {
    await h.close();
  }
});

test('a resync leaves alone a run whose exit is already being handled, and re-arms one still running', async () => {
  const units = [running('late', 6, 5), running('alive', 3, 3)];
  const h = harness(units, (id) => (id === 'alive' ? { pid: units[1]!.pid, status: 'running' } : { pid: 0, status: 'stopped', exitStatus: 1 }));
  try {
    h.emit({ kind: 'resync' });
    const deadline = Date.now() + 5000;
    while (h.rearmed.length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.deepEqual(h.rearmed, ['alive']);
    assert.deepEqual(h.observed, [], 'the exit already being handled is not reported again');
  } finally {
    await h.close();
  }
});
