import type { SpecPlan } from '../ocispec/plan.js';
import { DEFAULT_ROLLOUT } from '../units/types.js';
import { LABELS, type ManagedContainer, type RunningTask } from '../runtime/types.js';
import type { SupervisorDeps } from './deps.js';
import type { RestartWrapper } from './restart.js';
import type { Runner } from './runner.js';
import { beginRollout, recoverBootstrapRollout, recoverRollout, stepRollout, type Rollout, type RolloutInput } from './rollout-state.js';
import { runBootstrapRollout, type BootstrapRolloutContext } from './bootstrap-rollout.js';
import { runBootstrapUnit } from './bootstrap.js';
import { RolloutStore } from './rollout-store.js';
import type { UnitRecord } from './unit-record.js';

/** The name the previous image is pinned under: run by digest, kept while its rollout is remembered. */
export function restoreRefFor(unit: string, digest: string): string {
  return `berth.local/rollout/${unit}:${digest.replace(/^sha256:/, '').slice(0, 16)}`;
}

/**
 * A bootstrap unit's default watch: how long its new image may run before it counts as hung. A run to
 * completion (formatting a disk, fetching a config) may rightly take longer than a host container needs to
 * show it stays up, so the default is longer than DEFAULT_ROLLOUT's; `rollout.watch` sets it per unit.
 */
export const BOOTSTRAP_WATCH_MS = 300_000;

/** The plan that puts the previous image back: the asked plan (settings as they are now), previous image. */
function restorePlan(asked: SpecPlan, ref: string): SpecPlan {
  return { ...asked, unit: { ...asked.unit, image: ref } };
}

/**
 * Guarded rollouts (issue 18): an image change of a running host unit (or of a bootstrap unit whose mode
 * runs it: bootstrap-rollout.ts, where healthy means "exited 0 within the watch") pulls first (the old container
 * untouched), replaces, watches for `rollout.watch`, and puts the previous image back — by digest, same
 * settings otherwise — when the new one exits, is OOM-killed or is not healthy. Decisions are
 * rollout-state.ts's; this class does them and persists every step (rollout-store.ts).
 */
export class Rollouts {
  readonly store: RolloutStore;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** A bootstrap unit's trial run under way: aborted when its rollout is superseded (a stop must not wait). */
  private readonly trials = new Map<string, AbortController>();
  private readonly bootstrapContext: BootstrapRolloutContext;
  /** Told when a bootstrap rollout ends with a completed run (the supervisor re-opens a closed gate). */
  onBootstrapCompleted: (u: UnitRecord) => void = () => undefined;

  constructor(private readonly deps: SupervisorDeps, private readonly runner: Runner, private readonly restart: () => RestartWrapper) {
    this.store = new RolloutStore(deps.rolloutDir);
    this.bootstrapContext = {
      deps, runner,
      step: (u, r, input) => this.step(u, r, input),
      putBack: (u, r) => this.putBack(u, r),
      completed: (u) => this.onBootstrapCompleted(u),
    };
  }

  /** Whether a change of `u` to `plan` is a guarded rollout rather than a plain stop and start. */
  applies(u: UnitRecord, plan: SpecPlan, askedImage: string): boolean {
    const guard = plan.unit.rollout?.guard ?? DEFAULT_ROLLOUT.guard;
    // A bootstrap unit is never "running" for long: it is guarded whenever its mode runs it at all (its
    // new image is run now, as a trial, instead of first at the next boot, unproven, as the gate).
    if (plan.unit.class === 'bootstrap') {
      return guard && u.spec.class === 'bootstrap' && !u.held && u.desired === 'running' && (plan.unit.bootstrap?.mode ?? 'off') !== 'off'
        && askedImage !== plan.unit.image;
    }
    return guard && plan.unit.class === 'host' && u.spec.class === 'host' && !u.held && u.desired === 'running'
      && u.state === 'running' && u.task !== undefined && askedImage !== plan.unit.image;
  }

  /** A rollout of `u` is under way (not concluded). */
  active(u: UnitRecord): Rollout | undefined {
    const r = this.store.latest(u.name);
    return r && r.phase !== 'done' ? r : undefined;
  }

  private async step(u: UnitRecord, r: Rollout, input: RolloutInput): Promise<{ rollout: Rollout; action: string }> {
    const next = stepRollout(r, input, new Date());
    await this.save(u, next.rollout);
    return next;
  }

  private async save(u: UnitRecord, r: Rollout): Promise<void> {
    const before = this.store.latest(u.name);
    // In memory at once (status shows it together with its event), on disk before the next step.
    const written = this.store.save(r).catch((e: unknown) => this.deps.logger.error({ unit: u.name, err: String(e) }, 'persisting a rollout failed'));
    if (before?.id !== r.id || before.phase !== r.phase || before.outcome !== r.outcome) {
      const images = `${r.from.ref}${r.from.digest ? `@${r.from.digest}` : ''} → ${r.to.ref}${r.to.digest ? `@${r.to.digest}` : ''}`;
      const what = r.phase === 'done' ? `rollout ${r.id} ${r.outcome}` : `rollout ${r.id} ${r.phase}`;
      this.runner.note(u, `${what}: ${images}${r.deadline ? ` until ${r.deadline}` : ''}${r.reason ? `; ${r.reason}` : ''}`);
    }
    await written;
  }

  /** End a rollout in progress (another source, a stop, removal): nothing is undone, nothing more done. */
  async supersede(u: UnitRecord, why: string): Promise<void> {
    this.clearTimer(u.name);
    this.trials.get(u.name)?.abort();
    this.trials.delete(u.name);
    const r = this.active(u);
    if (r) await this.step(u, r, { kind: 'superseded', why });
  }

  /**
   * Roll `u` out to `plan` (`hash`). Runs outside the unit's chain while pulling (the running container is
   * untouched and a stop is not held behind a pull), inside it from the replacement on.
   */
  async begin(u: UnitRecord, plan: SpecPlan, hash: string): Promise<void> {
    const previous = this.store.latest(u.name);
    // A rollout cut short, or one rolled back: the previous image is still the last one known good.
    const inherited = previous && (previous.phase !== 'done' || ((previous.outcome === 'rolled-back' || previous.outcome === 'failed') && previous.fromHash === u.hash)) ? previous : undefined;
    await this.supersede(u, `superseded: ${plan.unit.image} was asked for`);
    u.asked = { plan, hash };
    const { images } = this.deps.runtime;
    let from = inherited?.from;
    let restoreRef = inherited?.restoreRef;
    if (!from || !restoreRef) {
      const digest = u.imageDigest ?? (await images.ensure(u.spec.image).catch(() => undefined))?.digest ?? '';
      from = { ref: u.spec.image, digest };
      restoreRef = u.spec.image;
      if (digest && images.pin) {
        const pinned = restoreRefFor(u.name, digest);
        restoreRef = await images.pin(digest, pinned).then(() => pinned, (e: unknown) => {
          this.deps.logger.warn({ unit: u.name, err: String(e) }, 'pinning the previous image failed; a rollback uses its tag');
          return u.spec.image;
        });
      }
    }
    let r = beginRollout({
      unit: u.name, id: this.store.nextId(u.name), from, to: { ref: plan.unit.image, digest: '' },
      fromHash: inherited?.fromHash ?? u.hash, toHash: hash, restoreRef,
      watchMs: plan.unit.rollout?.watchMs ?? (plan.unit.class === 'bootstrap' ? BOOTSTRAP_WATCH_MS : DEFAULT_ROLLOUT.watchMs),
    }, new Date());
    await this.save(u, r);
    let pulled: string;
    try {
      pulled = (await u.launching((signal) => images.ensure(plan.unit.image, undefined, signal))).digest ?? '';
    } catch (e) {
      if (this.store.latest(u.name)?.id === r.id) await this.step(u, r, { kind: 'pull-failed', message: e instanceof Error ? e.message : String(e) });
      return;
    }
    await u.serialize(async () => {
      if (this.store.latest(u.name)?.id !== r.id || r.phase !== 'pulling' || u.asked?.hash !== hash) return; // superseded meanwhile
      ({ rollout: r } = await this.step(u, r, { kind: 'pulled', digest: pulled }));
      if (plan.unit.class === 'bootstrap') {
        u.plan = plan;
        u.hash = hash;
        u.asked = undefined;
        const trial = new AbortController();
        this.trials.set(u.name, trial);
        try {
          await runBootstrapRollout(this.bootstrapContext, u, r, trial.signal);
        } finally {
          if (this.trials.get(u.name) === trial) this.trials.delete(u.name);
        }
        return;
      }
      await this.runner.stop(u, `rolling out ${plan.unit.image}`);
      u.plan = plan;
      u.hash = hash;
      u.asked = undefined;
      const startedAt = Date.now();
      let task: RunningTask;
      try {
        task = await this.runner.launch(u);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        await this.deps.runtime.remove(u.containerId).catch(() => undefined);
        this.runner.fail(u, `start of ${plan.unit.image} failed: ${message}`);
        ({ rollout: r } = await this.step(u, r, { kind: 'start-failed', message }));
        await this.restore(u, r);
        return;
      }
      this.runner.arm(u, task, startedAt);
      ({ rollout: r } = await this.step(u, r, { kind: 'started' }));
      this.watch(u, r);
    });
  }

  private watch(u: UnitRecord, r: Rollout): void {
    this.clearTimer(u.name);
    const due = Math.max(0, Date.parse(r.deadline ?? '') - Date.now());
    this.timers.set(u.name, setTimeout(() => {
      this.timers.delete(u.name);
      void u.serialize(async () => {
        const now = this.store.latest(u.name);
        if (now?.id !== r.id || now.phase !== 'watching') return;
        if (u.state !== 'running') return; // its exit is being handled (ended)
        const healthy = !u.spec.health || u.health === 'healthy';
        const next = await this.step(u, now, { kind: 'deadline', healthy, health: u.health });
        if (next.action !== 'stop-and-restore') return;
        await this.runner.stop(u, `rolling back: ${next.rollout.reason ?? ''}`);
        await this.restore(u, next.rollout);
      }).catch((e: unknown) => this.deps.logger.error({ unit: u.name, err: String(e) }, 'rollout deadline failed'));
    }, due));
  }

  private clearTimer(unit: string): void {
    const t = this.timers.get(unit);
    if (t) clearTimeout(t);
    this.timers.delete(unit);
  }

  /**
   * The runner's `ended` hook: a run of `u` ended by itself. True when it was the new image under watch
   * (the rollout puts the previous one back); false: the restart policy decides, as for any unit.
   * Runs inside the unit's chain, its container already removed.
   */
  async ended(u: UnitRecord, why: string, exitCode: number): Promise<boolean> {
    const r = this.active(u);
    if (!r || r.phase !== 'watching' || u.hash !== r.toHash) return false;
    this.clearTimer(u.name);
    const next = await this.step(u, r, { kind: 'exited', exitCode, reason: why });
    this.runner.fail(u, `${r.to.ref} failed its rollout: ${why}; putting ${r.from.ref} back`);
    await this.restore(u, next.rollout);
    return true;
  }

  /** Make `u` run the previous image again (its plan as asked, the pinned digest); `asked` keeps the new one. */
  private putBack(u: UnitRecord, r: Rollout): void {
    u.asked = { plan: u.plan, hash: u.hash };
    u.plan = restorePlan(u.plan, r.restoreRef);
    u.hash = r.fromHash;
  }

  /** Put the previous image back (inside the unit's chain, `u` idle). */
  private async restore(u: UnitRecord, r: Rollout): Promise<void> {
    this.putBack(u, r);
    const startedAt = Date.now();
    try {
      const task = await this.runner.launch(u);
      this.runner.arm(u, task, startedAt);
      await this.step(u, r, { kind: 'restored' });
    } catch (e) {
      await this.step(u, r, { kind: 'restore-failed', message: e instanceof Error ? e.message : String(e) });
      this.restart().startFailed(u, e, startedAt); // backs off and keeps trying the previous image
    }
  }

  /**
   * berthd start-up, before adoption: a rollout persisted as under way (berthd was killed) or rolled back
   * says which image each unit must run; `containers` (the runtime's, by their spec-hash label) say which
   * one does. Returns what to do once the units are up.
   */
  async recover(units: ReadonlyMap<string, UnitRecord>, containers: readonly ManagedContainer[]): Promise<() => void> {
    const later: Array<() => void> = [];
    for (const u of units.values()) {
      const r = this.store.latest(u.name);
      if (!r || u.spec.class === 'workload') continue;
      if (r.toHash !== u.hash) {
        // The settings changed while berthd was down: that change is applied as usual, this rollout is over.
        if (r.phase !== 'done') await this.save(u, stepRollout(r, { kind: 'superseded', why: 'settings changed while berthd was down' }, new Date()).rollout);
        continue;
      }
      if (u.spec.class === 'bootstrap') {
        // Before the bootstrap phase: it then runs whichever image this says (never an unproven one).
        const next = recoverBootstrapRollout(r, new Date());
        if (next.rollout !== r) await this.save(u, next.rollout);
        if (next.run === 'from') {
          this.putBack(u, r);
          u.imageDigest = r.from.digest || undefined;
        }
        // Cut off during its trial run (or the previous image's re-run): the rule of a rollback holds
        // (bootstrapRerunsPrevious). The phase runs the previous image if its marker says it is owed; an
        // `always` unit that already ran this boot is run again once the host units are up.
        const cut = r.phase === 'replacing' || r.phase === 'watching' || r.phase === 'rolling-back';
        if (cut && u.spec.bootstrap?.mode === 'always' && u.desired === 'running' && (await this.deps.bootstrapMarkers.done(u.spec))) {
          const d = { runner: this.runner, logger: this.deps.logger, markers: this.deps.bootstrapMarkers };
          later.push(() => void u.serialize(() => runBootstrapUnit(u, d)).catch((e: unknown) => this.deps.logger.warn({ unit: u.name, err: String(e) }, 'running the previous image again failed')));
        }
        if (next.action === 'restart') later.push(() => void this.begin(u, u.asked!.plan, u.asked!.hash).catch((e: unknown) => this.deps.logger.error({ unit: u.name, err: String(e) }, 'resuming a rollout failed')));
        continue;
      }
      const c = containers.find((x) => x.id === u.containerId && x.task?.status === 'running');
      const label = c?.labels[LABELS.specHash];
      const runs = label === r.toHash ? 'to' : label === r.fromHash ? 'from' : 'none';
      const next = recoverRollout(r, runs, new Date());
      if (next.rollout !== r) await this.save(u, next.rollout);
      if (next.run === 'from') this.putBack(u, r);
      if (next.action === 'watch') later.push(() => this.watch(u, next.rollout));
      if (next.action === 'restart') later.push(() => void this.begin(u, u.asked!.plan, u.asked!.hash).catch((e: unknown) => this.deps.logger.error({ unit: u.name, err: String(e) }, 'resuming a rollout failed')));
    }
    return () => later.forEach((f) => f());
  }

  close(): void {
    for (const t of this.trials.values()) t.abort();
    this.trials.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
