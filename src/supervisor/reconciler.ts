import { specHash } from '../units/index.js';
import type { RunningTask } from '../runtime/types.js';
import type { SupervisorDeps } from './deps.js';
import type { EventBus } from './events.js';
import type { RestartWrapper } from './restart.js';
import type { Runner } from './runner.js';
import { UnitRecord } from './unit-record.js';
import type { DesiredUnit, StopObserver, SupervisorEvent, UnitEvent, UnitState } from './types.js';
import { runBootstrapUnit, type BootstrapDeps } from './bootstrap.js';
import type { Rollouts } from './rollout.js';

/** States in which a unit has no live task and may be (re)started. */
export const IDLE: ReadonlySet<UnitState> = new Set<UnitState>(['stopped', 'exited', 'failed', 'backing-off', 'waiting']);

/**
 * Desired state → runner commands. Owns the unit records: adds, replaces (only changed specs), forgets,
 * and starts or stops them, holding back units whose dependencies are not up and everything until the
 * bootstrap phase is done (or for good, when an essential bootstrap unit failed).
 */
export class Reconciler {
  readonly units = new Map<string, UnitRecord>();
  /** Set when an essential bootstrap unit failed: nothing else is started. */
  blockedBy: string | undefined;
  bootstrapPhaseDone = false;
  private restart!: RestartWrapper;
  private rollouts: Rollouts | undefined;

  constructor(private readonly deps: SupervisorDeps, private readonly runner: Runner, private readonly bus: EventBus, private readonly bootstrap: BootstrapDeps) {}

  /** The restart wrapper calls back into activate, so it is handed over once both exist. */
  useRestart(restart: RestartWrapper): void {
    this.restart = restart;
  }

  useRollouts(rollouts: Rollouts): void {
    this.rollouts = rollouts;
  }

  // ---- commands (the API's start/stop/restart) --------------------------------------------------------

  async start(u: UnitRecord): Promise<void> {
    u.desired = 'running';
    u.held = false;
    u.attempt = 0;
    u.ended = false;
    if (u.spec.class === 'bootstrap') {
      await u.serialize(() => runBootstrapUnit(u, this.bootstrap));
      return;
    }
    if (u.state === 'backing-off') u.clearTimers();
    // Only an idle unit is started: start on a running one went running → preparing (an illegal
    // transition), which was handled as a failed start — its container removed, the unit backing off
    // (found by the chaos suite's API fuzzing, R4). Starting a running unit is now a no-op.
    await u.serialize(async () => {
      if (IDLE.has(u.state)) await this.activate(u);
    });
  }

  async stop(u: UnitRecord, onProgress?: StopObserver): Promise<void> {
    u.desired = 'stopped';
    u.held = true;
    u.abortLaunch(); // a pull in progress would otherwise hold the stop behind it
    await this.rollouts?.supersede(u, 'stopped on request');
    await u.serialize(() => this.runner.stop(u, 'stopped on request', onProgress));
    this.kickWaiting();
  }

  // ---- desired state ----------------------------------------------------------------------------------

  /**
   * Set the desired units. New ones are added, removed ones stopped and forgotten, changed specs replaced
   * (only those: an unchanged unit is never touched), and desired running/stopped applied. A changed image
   * of a running host unit is a guarded rollout (rollout.ts); `retry` names units whose source was set again
   * (unchanged): a rollout that rolled back is tried once more.
   */
  async setDesired(units: readonly DesiredUnit[], retry: ReadonlySet<string> = new Set()): Promise<void> {
    const wanted = new Map(units.map((d) => [d.plan.unit.name, d]));
    const ops: Promise<unknown>[] = [];
    for (const u of this.units.values()) {
      if (!wanted.has(u.name)) {
        u.desired = 'stopped';
        u.abortLaunch();
        ops.push(Promise.resolve(this.rollouts?.supersede(u, 'unit removed')).then(() => u.serialize(() => this.runner.stop(u, 'unit removed'))).then(() => this.units.delete(u.name)));
      }
    }
    for (const { plan, want } of units) {
      const spec = plan.unit;
      const hash = specHash(spec);
      const record = this.units.get(spec.name);
      if (!record) {
        const u = new UnitRecord(plan, hash, this.deps.runtime.namespace, this.emitUnit);
        u.desired = want;
        u.configured = want;
        this.units.set(spec.name, u);
        if (want === 'running' && this.bootstrapPhaseDone && spec.class !== 'bootstrap') ops.push(this.startRecord(u));
        continue;
      }
      // After a rollback the unit runs the previous image; what it was asked to run is `asked`.
      const changed = (record.asked?.hash ?? record.hash) !== hash;
      const wasDesired = record.desired;
      const rollouts = this.rollouts;
      const askedImage = record.asked?.plan.unit.image ?? record.spec.image;
      const again = !changed && retry.has(spec.name) && record.asked !== undefined && rollouts?.active(record) === undefined;
      if (rollouts && want === 'running' && (changed || again) && rollouts.applies(record, plan, again ? record.spec.image : askedImage)) {
        record.configured = want;
        ops.push(rollouts.begin(record, plan, hash).catch((e: unknown) => this.deps.logger.error({ unit: spec.name, err: String(e) }, 'rollout failed')));
        continue;
      }
      if (changed) {
        if (rollouts?.active(record)) ops.push(rollouts.supersede(record, 'replaced by a plain restart'));
        record.asked = undefined;
        record.abortLaunch();
        ops.push(record.serialize(async () => {
          const wasActive = !IDLE.has(record.state) || record.state === 'backing-off';
          if (wasActive) await this.runner.stop(record, 'spec changed');
          record.plan = plan;
          record.hash = hash;
        }));
      } else {
        // Same unit, new context (e.g. a commit changed the SELinux mode or the host-path allow-list): used
        // from the next start on, without restarting a unit whose spec did not change.
        if (record.asked) record.asked.plan = plan;
        else record.plan = plan;
      }
      // Stopped on request and the configuration still says the same: it stays stopped (new spec or not).
      if (record.held && want === record.configured) continue;
      record.held = false;
      record.configured = want;
      record.desired = want;
      // Re-applying the same desired state (another workload run or removed, any settings commit) is not a
      // request to run again a unit whose run ended for good (`restart never`): that restarted it. Nor is
      // "stopped" for it (the workload manager persists that it ended) a reason to touch it: it stays exited.
      if (changed || (want !== wasDesired && !(want === 'stopped' && record.ended))) record.ended = false;
      if (spec.class === 'bootstrap' || !this.bootstrapPhaseDone || record.ended) continue;
      if (want === 'running') ops.push(this.startRecord(record));
      else {
        record.abortLaunch();
        ops.push(record.serialize(() => this.runner.stop(record, 'disabled')));
      }
    }
    await Promise.all(ops);
  }

  /** After the bootstrap phase: start every host unit that is wanted running. */
  async startAll(): Promise<void> {
    await Promise.all([...this.units.values()].filter((u) => u.spec.class !== 'bootstrap' && u.desired === 'running').map((u) => this.startRecord(u)));
  }

  private startRecord(u: UnitRecord): Promise<void> {
    return u.serialize(async () => {
      if (u.desired !== 'running' || !IDLE.has(u.state) || u.state === 'backing-off') return;
      await this.activate(u);
    });
  }

  /** Every state change is an event; one that may bring a dependency up re-checks waiting units. */
  private emitUnit = (u: UnitRecord, e: UnitEvent): void => {
    this.bus.emit({ kind: 'unit', unit: u.name, state: e.state, message: e.message, at: e.at } satisfies SupervisorEvent);
    if (e.state !== 'running' || u.health !== 'unknown') this.kickWaiting();
  };

  // ---- dependencies -----------------------------------------------------------------------------------

  private unmetDependencies(u: UnitRecord): string[] {
    return u.spec.dependsOn.filter((d) => !this.units.get(d)?.up);
  }

  /** Start waiting units whose dependencies came up. */
  kickWaiting(): void {
    for (const u of this.units.values()) {
      if (u.state === 'waiting' && u.desired === 'running' && this.unmetDependencies(u).length === 0) void this.startRecord(u);
    }
  }

  /** Bring a unit from idle to running (or to waiting/backing-off/failed). Runs inside the unit's chain. */
  async activate(u: UnitRecord): Promise<void> {
    if (u.desired !== 'running' || this.blockedBy) return;
    const unmet = this.unmetDependencies(u);
    if (unmet.length > 0) {
      this.runner.waitFor(u, unmet);
      return;
    }
    let task: RunningTask;
    const startedAt = Date.now();
    try {
      task = await this.runner.launch(u);
    } catch (e) {
      this.restart.startFailed(u, e, startedAt);
      return;
    }
    this.runner.arm(u, task, startedAt);
  }

  summary(): string {
    const all = [...this.units.values()];
    const running = all.filter((u) => u.state === 'running').length;
    const failed = all.filter((u) => u.state === 'failed' || u.state === 'backing-off').length;
    return `${running} running, ${failed} failing, ${all.length} units`;
  }
}
