import type { ExitInfo, RunningTask } from '../runtime/types.js';
import type { SupervisorDeps } from './deps.js';
import type { Runner } from './runner.js';
import { bootstrapRerunsPrevious, type Rollout, type RolloutInput } from './rollout-state.js';
import type { UnitRecord } from './unit-record.js';

/** What a bootstrap rollout needs from its controller (rollout.ts): persisting steps, and the plan swap. */
export interface BootstrapRolloutContext {
  deps: SupervisorDeps;
  runner: Runner;
  step(u: UnitRecord, r: Rollout, input: RolloutInput): Promise<{ rollout: Rollout; action: string }>;
  /** Make `u` the previous image again (plan, hash; `asked` keeps the new one). */
  putBack(u: UnitRecord, r: Rollout): void;
  /** A run of `u` completed (exit 0): an essential unit's start-up gate may open. */
  completed(u: UnitRecord): void;
}

type RunEnd = { kind: 'exit'; exit: ExitInfo } | { kind: 'deadline' } | { kind: 'aborted' };

/**
 * One run to completion of `u` as it is now planned, bounded by `deadlineMs` (epoch ms) and `signal`: a
 * run that does not end in time, or whose rollout is superseded, is stopped. Inside the unit's chain.
 * The unit ends exited (exit 0), failed (anything else) or stopped (aborted).
 */
async function runBounded(c: BootstrapRolloutContext, u: UnitRecord, task: RunningTask, deadlineMs: number, signal: AbortSignal): Promise<RunEnd> {
  // The stop below needs the task; the runtime watch ignores this run (it is never armed: generation moves
  // past armedGeneration), so its exit is this function's alone, as in Runner.runToCompletion.
  u.generation++;
  u.task = task;
  u.pid = task.pid;
  u.startedAtMs = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const end = await Promise.race<RunEnd>([
    task.exited.then((exit) => ({ kind: 'exit', exit })),
    new Promise<RunEnd>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'deadline' }), Math.max(0, deadlineMs - Date.now()));
    }),
    new Promise<RunEnd>((resolve) => {
      onAbort = () => resolve({ kind: 'aborted' });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  });
  if (end.kind !== 'exit') {
    await c.runner.stop(u, end.kind === 'deadline' ? `${u.spec.image} did not finish in time; stopped` : 'rollout superseded; stopped');
    return end;
  }
  u.generation++;
  u.task = undefined;
  u.pid = 0;
  u.exitCode = end.exit.exitCode;
  await c.deps.runtime.remove(u.containerId).catch((e: unknown) => c.deps.logger.warn({ unit: u.name, err: String(e) }, 'remove after a bootstrap run failed'));
  if (end.exit.exitCode === 0) {
    await c.deps.bootstrapMarkers.mark(u.spec);
    c.runner.exited(u, 'completed (exit 0)');
  } else {
    u.lastError = failure(u, end.exit.exitCode);
    c.runner.fail(u, u.lastError);
  }
  return end;
}

function failure(u: UnitRecord, exitCode: number): string {
  return u.oomKilled ? `killed by the OOM killer (exit ${exitCode})` : `exited with status ${exitCode}`;
}

/**
 * The guard for a run-to-completion unit (issue 18, bootstrap containers): healthy means exit 0 within
 * `rollout.watch`. Run the new image (already pulled, `r` in `replacing`, `u` on the new plan); a non-zero
 * exit, an OOM kill, or no end by the deadline puts the previous image back (by digest) and runs it again
 * when its mode says so (rollout-state.ts bootstrapRerunsPrevious). Inside the unit's chain.
 */
export async function runBootstrapRollout(c: BootstrapRolloutContext, u: UnitRecord, r: Rollout, signal: AbortSignal): Promise<void> {
  const task = await launchOrFail(c, u, u.spec.image);
  if (typeof task === 'string') {
    ({ rollout: r } = await c.step(u, r, { kind: 'start-failed', message: task }));
    await restoreBootstrap(c, u, r, signal);
    return;
  }
  ({ rollout: r } = await c.step(u, r, { kind: 'started' }));
  const end = await runBounded(c, u, task, Date.parse(r.deadline ?? ''), signal);
  if (end.kind === 'aborted') return; // superseded: the rollout is over already, nothing more is done
  if (end.kind === 'deadline') ({ rollout: r } = await c.step(u, r, { kind: 'unfinished' }));
  else if (end.exit.exitCode === 0) {
    await c.step(u, r, { kind: 'completed' });
    c.completed(u);
    return;
  } else ({ rollout: r } = await c.step(u, r, { kind: 'exited', exitCode: end.exit.exitCode, reason: failure(u, end.exit.exitCode) }));
  c.runner.note(u, `${r.to.ref} failed its rollout: ${r.reason ?? ''}; putting ${r.from.ref} back`);
  await restoreBootstrap(c, u, r, signal);
}

/** Launches `u`; a failed start leaves no container, fails the unit naming `ref`, and is returned as its message. */
async function launchOrFail(c: BootstrapRolloutContext, u: UnitRecord, ref: string): Promise<RunningTask | string> {
  try {
    return await c.runner.launch(u);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    await c.deps.runtime.remove(u.containerId).catch(() => undefined);
    c.runner.fail(u, `start of ${ref} failed: ${message}`);
    return message;
  }
}

/** Put the previous image back and, when its mode says so, run it (bounded by the same watch). */
async function restoreBootstrap(c: BootstrapRolloutContext, u: UnitRecord, r: Rollout, signal: AbortSignal): Promise<void> {
  c.putBack(u, r);
  u.imageDigest = r.from.digest || undefined;
  const mode = u.spec.bootstrap?.mode ?? 'off';
  const completedOnce = mode === 'once' && (await c.deps.bootstrapMarkers.done(u.spec));
  if (!bootstrapRerunsPrevious(mode, completedOnce)) {
    await c.step(u, r, { kind: 'restored' });
    return;
  }
  const task = await launchOrFail(c, u, r.from.ref);
  if (typeof task === 'string') {
    await c.step(u, r, { kind: 'restore-failed', message: task });
    return;
  }
  const end = await runBounded(c, u, task, Date.now() + r.watchMs, signal);
  if (end.kind === 'aborted') return;
  if (end.kind === 'exit' && end.exit.exitCode === 0) {
    await c.step(u, r, { kind: 'restored' });
    c.completed(u);
    return;
  }
  const why = end.kind === 'deadline' ? `did not finish within the ${r.watchMs / 1000} s watch` : failure(u, end.exit.exitCode);
  await c.step(u, r, { kind: 'restore-failed', message: `its run ${why}` });
}
