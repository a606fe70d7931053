// A guarded rollout as a pure state machine: what happened → the next phase and what to do next. The
// controller (rollout.ts) does the doing; this file decides, so every path is testable without containerd.

/** pulling: the new image is fetched, the old container untouched · replacing: old stopped, new starting ·
 * watching: the new one runs until the deadline · rolling-back: the previous image is being put back ·
 * done: concluded (see outcome). */
export type RolloutPhase = 'pulling' | 'replacing' | 'watching' | 'rolling-back' | 'done';
export type RolloutOutcome = 'in-progress' | 'succeeded' | 'rolled-back' | 'failed' | 'superseded';

export interface RolloutImage {
  /** As the operator wrote it. */
  ref: string;
  /** Empty until known (the new image: once pulled). */
  digest: string;
}

export interface Rollout {
  unit: string;
  /** 1, 2, … per unit. */
  id: number;
  phase: RolloutPhase;
  outcome: RolloutOutcome;
  from: RolloutImage;
  to: RolloutImage;
  /** Spec hashes of the unit before and after: a container's label says which of the two it runs. */
  fromHash: string;
  toHash: string;
  /** The name the previous image is pinned under (its digest, kept until the rollout is forgotten). */
  restoreRef: string;
  watchMs: number;
  startedAt: string;
  /** While watching: when the new image is kept if it is still running (and healthy). */
  deadline?: string;
  endedAt?: string;
  /** Why it ended the way it did (exit code, OOM, health output, pull error). */
  reason?: string;
  exitCode?: number;
}

export type RolloutInput =
  | { kind: 'pulled'; digest: string }
  | { kind: 'pull-failed'; message: string }
  /** The new container runs: the watch begins. */
  | { kind: 'started' }
  | { kind: 'start-failed'; message: string }
  | { kind: 'exited'; exitCode: number; reason: string }
  /** The deadline came: `healthy` false when it has a health check that has not passed. */
  | { kind: 'deadline'; healthy: boolean; health: string }
  /** A run-to-completion unit (bootstrap) under watch exited 0: that is its healthy end. */
  | { kind: 'completed' }
  /** A run-to-completion unit was still running at the deadline (it was stopped): a failure. */
  | { kind: 'unfinished' }
  /** The previous image runs again. */
  | { kind: 'restored' }
  | { kind: 'restore-failed'; message: string }
  /** Another source was asked for, or the unit was stopped or removed. */
  | { kind: 'superseded'; why: string };

/** What the controller must do after a step. */
export type RolloutAction = 'replace' | 'watch' | 'restore' | 'stop-and-restore' | 'none';

export class RolloutInputError extends Error {
  constructor(readonly phase: RolloutPhase, readonly input: RolloutInput['kind']) {
    super(`rollout: "${input}" cannot happen while ${phase}`);
    this.name = 'RolloutInputError';
  }
}

export function beginRollout(r: Omit<Rollout, 'phase' | 'outcome' | 'startedAt'>, now: Date): Rollout {
  return { ...r, phase: 'pulling', outcome: 'in-progress', startedAt: now.toISOString() };
}

function end(r: Rollout, outcome: RolloutOutcome, reason: string | undefined, now: Date, exitCode?: number): Rollout {
  const { deadline: _over, ...rest } = r;
  return { ...rest, phase: 'done', outcome, endedAt: now.toISOString(), ...(reason !== undefined ? { reason } : {}), ...(exitCode !== undefined ? { exitCode } : {}) };
}

function rollingBack(r: Rollout, reason: string, exitCode?: number): Rollout {
  const { deadline: _over, ...rest } = r;
  return { ...rest, phase: 'rolling-back', reason, ...(exitCode !== undefined ? { exitCode } : {}) };
}

/** One step. Throws RolloutInputError for an input its phase cannot see (a controller bug). */
export function stepRollout(r: Rollout, input: RolloutInput, now: Date): { rollout: Rollout; action: RolloutAction } {
  const bad = (): never => {
    throw new RolloutInputError(r.phase, input.kind);
  };
  if (input.kind === 'superseded') {
    if (r.phase === 'done') return bad();
    return { rollout: end(r, 'superseded', input.why, now), action: 'none' };
  }
  switch (r.phase) {
    case 'pulling':
      // Nothing was stopped: a failed pull leaves the previous image running, so it is rolled back already.
      if (input.kind === 'pulled') return { rollout: { ...r, phase: 'replacing', to: { ...r.to, digest: input.digest } }, action: 'replace' };
      if (input.kind === 'pull-failed') return { rollout: end(r, 'rolled-back', `pull failed: ${input.message}`, now), action: 'none' };
      return bad();
    case 'replacing':
      if (input.kind === 'started') return { rollout: { ...r, phase: 'watching', deadline: new Date(now.getTime() + r.watchMs).toISOString() }, action: 'watch' };
      if (input.kind === 'start-failed') return { rollout: rollingBack(r, `start failed: ${input.message}`), action: 'restore' };
      return bad();
    case 'watching':
      if (input.kind === 'exited') return { rollout: rollingBack(r, input.reason, input.exitCode), action: 'restore' };
      if (input.kind === 'completed') return { rollout: end(r, 'succeeded', undefined, now), action: 'none' };
      if (input.kind === 'unfinished') return { rollout: rollingBack(r, `did not finish within the ${r.watchMs / 1000} s watch (stopped)`), action: 'restore' };
      if (input.kind === 'deadline') {
        if (input.healthy) return { rollout: end(r, 'succeeded', undefined, now), action: 'none' };
        return { rollout: rollingBack(r, `not healthy by the end of the watch (health: ${input.health})`), action: 'stop-and-restore' };
      }
      return bad();
    case 'rolling-back':
      if (input.kind === 'restored') return { rollout: end(r, 'rolled-back', r.reason, now, r.exitCode), action: 'none' };
      if (input.kind === 'restore-failed') return { rollout: end(r, 'failed', `${r.reason ?? 'rollout failed'}; putting ${r.from.ref} back failed too: ${input.message}`, now, r.exitCode), action: 'none' };
      // The restored container died before it was seen running: still rolling back (the restart policy retries).
      if (input.kind === 'exited' || input.kind === 'start-failed') return { rollout: r, action: 'none' };
      return bad();
    case 'done':
      return bad();
  }
}

/**
 * After a berthd restart: what the persisted rollout and the container found running (by its spec-hash
 * label) mean. `runs`: 'to' (the new image's container runs), 'from' (the previous one runs), 'none'.
 * Never both (one container id per unit); never none for longer than this restart: every answer says which
 * image the unit runs now, and the controller starts it if nothing runs.
 */
export function recoverRollout(r: Rollout, runs: 'to' | 'from' | 'none', now: Date): { rollout: Rollout; run: 'to' | 'from'; action: RolloutAction | 'restart' } {
  if (r.phase === 'done') return { rollout: r, run: r.outcome === 'rolled-back' || r.outcome === 'failed' ? 'from' : 'to', action: 'none' };
  if (r.phase === 'watching' || r.phase === 'replacing') {
    // The new image runs: watch it a whole window again (the time berthd was down proved nothing).
    if (runs === 'to') return { rollout: { ...r, phase: 'watching', deadline: new Date(now.getTime() + r.watchMs).toISOString() }, run: 'to', action: 'watch' };
    // It died while berthd was down (or was never started): put the previous image back.
    if (runs === 'none' || r.phase === 'watching') return { rollout: end(r, 'rolled-back', `${r.to.ref} was not running when berthd restarted during the watch`, now), run: 'from', action: 'none' };
  }
  if (r.phase === 'rolling-back') return { rollout: end(r, 'rolled-back', r.reason, now, r.exitCode), run: 'from', action: 'none' };
  // pulling (or replacing with the previous image still up): nothing was stopped; start over.
  return { rollout: { ...r, phase: 'pulling' }, run: 'from', action: 'restart' };
}

/**
 * Whether a bootstrap unit's previous image, put back after its new image failed, is run again now. The
 * rule follows what the mode promises the host:
 * - `always`: a run at every boot. This boot's last run was the failed new image, which may have left the
 *   set-up half done or undone: the previous image runs again so the host ends this boot as a good run
 *   leaves it (and the next boot runs it anyway).
 * - `once`: one completed run, ever. If the unit already completed (its marker is there: the previous image
 *   did the job), that job is done and `once` forbids doing it again: not re-run. If it never completed
 *   (the previous image failed too, or never got to run), the job is still owed: the previous image, the
 *   last one known to the host, runs now, as it would at the next boot.
 * - `off`: never runs (a source change of an `off` unit is no rollout; this is for completeness).
 */
export function bootstrapRerunsPrevious(mode: 'off' | 'once' | 'always', completedOnce: boolean): boolean {
  if (mode === 'always') return true;
  if (mode === 'once') return !completedOnce;
  return false;
}

/**
 * After a berthd restart, a bootstrap unit's rollout: its trial run is not adopted (the supervisor does not
 * wait on a run-to-completion container it did not start), so its result is unknown and it did not prove
 * the new image: the previous image is what the unit runs (the boot's bootstrap phase then runs it as its
 * mode says, so the start-up gate never waits on an unproven image). Killed while pulling: nothing ran yet,
 * the rollout starts over once the host units are up. Re-applying the source retries any other.
 */
export function recoverBootstrapRollout(r: Rollout, now: Date): { rollout: Rollout; run: 'to' | 'from'; action: 'none' | 'restart' } {
  if (r.phase === 'done') return { rollout: r, run: r.outcome === 'rolled-back' || r.outcome === 'failed' ? 'from' : 'to', action: 'none' };
  if (r.phase === 'pulling') return { rollout: r, run: 'from', action: 'restart' };
  if (r.phase === 'rolling-back') return { rollout: end(r, 'rolled-back', r.reason, now, r.exitCode), run: 'from', action: 'none' };
  return { rollout: end(r, 'rolled-back', `berthd restarted before ${r.to.ref} finished; its result is unknown`, now), run: 'from', action: 'none' };
}
