import { RuntimeUnavailableError } from '../runtime/errors.js';
import { LABELS } from '../runtime/types.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import type { SupervisorDeps } from './deps.js';
import { EssentialBootstrapError, UnknownUnitError } from './errors.js';
import { EventBus } from './events.js';
import { DaemonStatus } from './status.js';
import { Runner } from './runner.js';
import { RestartWrapper } from './restart.js';
import { HealthChecks } from './health.js';
import { Reconciler } from './reconciler.js';
import { adoptRunning } from './adoption.js';
import { runBootstrapPhase, type BootstrapDeps } from './bootstrap.js';
import { RuntimeWatch } from './runtime-watch.js';
import { execIn } from './exec.js';
import { Rollouts } from './rollout.js';
import type { Rollout } from './rollout-state.js';
import type { UnitRecord } from './unit-record.js';
import type { RolloutSummary, DesiredUnit, ExecRequest, ExecSession, LogLine, StopObserver, SupervisorApi, SupervisorEvent, UnitStatus } from './types.js';

// The facade's callers (daemon, workloads, tests) import these from here, as before the split.
export type { SupervisorDeps } from './deps.js';
export { UnknownUnitError, EssentialBootstrapError } from './errors.js';

/**
 * One state machine per unit, driven by the runtime's exit reports and event stream (never by polling).
 * This class only wires the parts and answers the API: the runner (launch, watch, stop: the only code that
 * changes a unit's state), the restart wrapper (backoff, give-up), health checks, the reconciler (desired
 * state → runner commands, dependency gating), bootstrap, adoption, and the runtime watch.
 */
export class Supervisor implements SupervisorApi {
  private readonly bus = new EventBus();
  private readonly daemon: DaemonStatus;
  private readonly runner: Runner;
  private readonly restartWrapper: RestartWrapper;
  private readonly health: HealthChecks;
  private readonly reconciler: Reconciler;
  private readonly bootstrap: BootstrapDeps;
  private readonly watch: RuntimeWatch;
  private readonly rollouts: Rollouts;

  constructor(private readonly deps: SupervisorDeps) {
    this.daemon = new DaemonStatus(this.bus, deps.logger);
    // The parts call each other in a cycle (runner → restart → reconciler → runner); the hooks are closures
    // read only once a unit runs, by which time every part exists.
    this.runner = new Runner(deps, this.daemon, {
      armed: (u, generation) => {
        this.health.schedule(u, generation);
        this.reconciler.kickWaiting();
      },
      // The new image of a rollout under watch is the rollout's to handle (it puts the previous one back).
      ended: async (u, why, exitCode, ranMs) => {
        if (!(await this.rollouts.ended(u, why, exitCode))) this.restartWrapper.afterFailure(u, why, exitCode, ranMs);
      },
    });
    this.bootstrap = { runner: this.runner, logger: deps.logger, markers: deps.bootstrapMarkers };
    this.reconciler = new Reconciler(deps, this.runner, this.bus, this.bootstrap);
    this.restartWrapper = new RestartWrapper(this.runner, deps.backoff ?? DEFAULT_BACKOFF, deps.logger, this.daemon, (u) => this.reconciler.activate(u));
    this.reconciler.useRestart(this.restartWrapper);
    this.rollouts = new Rollouts(deps, this.runner, () => this.restartWrapper);
    this.reconciler.useRollouts(this.rollouts);
    // A host held at its start-up gate by a failed essential bootstrap unit is not held for good: once a
    // rollout of that unit ends with a run that completed, the gate is tried again (the phase goes on
    // from there: units already run are skipped).
    this.rollouts.onBootstrapCompleted = (u) => {
      if (!this.reconciler.blockedBy || u.name !== this.gateClosedBy || this.gateOpening) return;
      this.gateOpening = true;
      void this.reopenGate()
        .catch((e: unknown) => deps.logger.error({ err: String(e) }, 'reopening the start-up gate failed'))
        .finally(() => (this.gateOpening = false));
    };
    this.health = new HealthChecks(deps.runtime, this.runner);
    this.watch = new RuntimeWatch(deps, this.daemon, this.reconciler, this.runner, this.restartWrapper);
  }

  // ---- public API -----------------------------------------------------------------------------------

  list(): UnitStatus[] {
    return [...this.reconciler.units.values()].map((u) => this.statusOf(u));
  }

  get(name: string): UnitStatus | undefined {
    const u = this.reconciler.units.get(name);
    return u && this.statusOf(u);
  }

  private statusOf(u: UnitRecord): UnitStatus {
    const history = this.rollouts.store.history(u.name);
    const latest = history.at(-1);
    const summary = ({ unit: _u, fromHash: _f, toHash: _t, restoreRef: _r, ...shown }: Rollout): RolloutSummary => shown;
    const status = u.status();
    // The previous image put back runs under its pinned name: shown as the operator knows it, by digest.
    if (u.asked && latest && u.hash === latest.fromHash) status.runningImage = u.imageDigest ? `${latest.from.ref}@${u.imageDigest}` : latest.from.ref;
    return { ...status, ...(latest ? { rollout: summary(latest), rolloutHistory: history.map(summary) } : {}) };
  }

  status(): { ready: boolean; containerd: 'connected' | 'unavailable'; message: string } {
    return this.daemon.snapshot();
  }

  private require(name: string): UnitRecord {
    const u = this.reconciler.units.get(name);
    if (!u) throw new UnknownUnitError(name);
    return u;
  }

  async start(name: string): Promise<UnitStatus> {
    const u = this.require(name);
    await this.reconciler.start(u);
    return this.statusOf(u);
  }

  async stop(name: string, onProgress?: StopObserver): Promise<UnitStatus> {
    const u = this.require(name);
    await this.reconciler.stop(u, onProgress);
    return this.statusOf(u);
  }

  async restart(name: string): Promise<UnitStatus> {
    const u = this.require(name);
    await u.serialize(() => this.runner.stop(u, 'restarting on request'));
    return this.start(name);
  }

  async stopAll(onProgress?: StopObserver): Promise<void> {
    const units = [...this.reconciler.units.values()];
    // All at once: the slowest stop timeout bounds the wait, not their sum.
    await Promise.all(units.map((u) => this.reconciler.stop(u, onProgress)));
    // "Stop everything" leaves no container behind, not even one no unit claims (a unit removed while berthd
    // was down is only swept at the next start-up otherwise). Removing deletes the task (SIGKILL first), so
    // its shim and rootfs mount go too.
    for (const c of await this.deps.runtime.listManaged()) {
      if (this.reconciler.units.has(c.labels[LABELS.unit] ?? '') && c.id === c.labels[LABELS.unit]) continue;
      this.deps.logger.info({ container: c.id }, 'stop-all: removing a container no unit claims');
      await this.deps.runtime.remove(c.id);
    }
  }

  logs(name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine> {
    this.require(name);
    return this.deps.logs.read(name, opts);
  }

  exec(req: ExecRequest): Promise<ExecSession> {
    return execIn(this.deps.runtime, this.require(req.unit), req);
  }

  events(signal: AbortSignal): AsyncGenerator<SupervisorEvent> {
    return this.bus.stream(signal);
  }

  /** See Reconciler.setDesired: only changed units are touched. */
  setDesired(units: readonly DesiredUnit[], retry?: ReadonlySet<string>): Promise<void> {
    return this.reconciler.setDesired(units, retry);
  }

  get blocked(): string | undefined {
    return this.reconciler.blockedBy;
  }

  // ---- start-up ---------------------------------------------------------------------------------------

  /**
   * Adopt what is already running, run bootstrap units, then start the rest. Resolves once the first
   * reconcile has settled (every unit has started, failed, or is waiting on something).
   */
  async run(): Promise<void> {
    void this.watch.run();
    let resumeRollouts = (): void => undefined;
    try {
      await this.rollouts.store.load((file, why) => this.deps.logger.warn({ file, err: why }, 'rollout file unreadable; ignored'));
      resumeRollouts = await this.rollouts.recover(this.reconciler.units, await this.deps.runtime.listManaged());
      await adoptRunning(this.deps.runtime, this.reconciler.units, this.runner, this.deps.logger);
    } catch (e) {
      // The engine is down at start-up (e.g. workloads.runtime = "docker" with no Docker running): berthd
      // must not exit over it — that took host supervision and the API down with the workload engine
      // (found by the chaos suite, R6). Units then fail to start and back off; the runtime's `resync` event
      // retries them once the engine answers. (Tasks that were running are replaced, not adopted, then.)
      if (!(e instanceof RuntimeUnavailableError)) throw e;
      this.daemon.runtimeDown(e.message);
    }
    try {
      await runBootstrapPhase(this.reconciler.units, this.bootstrap);
    } catch (e) {
      if (!(e instanceof EssentialBootstrapError)) throw e;
      this.closeGate(e, resumeRollouts);
      this.daemon.ready = true;
      return;
    }
    this.reconciler.bootstrapPhaseDone = true;
    await this.reconciler.startAll();
    resumeRollouts();
    this.daemon.ready = true;
    this.daemon.announce(this.reconciler.summary());
  }

  /** The essential bootstrap unit whose failure closed the start-up gate, and what waits for it to open. */
  private gateClosedBy: string | undefined;
  private gateOpening = false;
  private afterGate = (): void => undefined;

  private closeGate(e: EssentialBootstrapError, afterGate: () => void): void {
    this.reconciler.blockedBy = e.message;
    this.gateClosedBy = e.unit;
    this.afterGate = afterGate;
    this.daemon.announce(e.message);
  }

  /**
   * The start-up gate again, after a bootstrap rollout of the unit that closed it completed a run
   * (Rollouts.onBootstrapCompleted): the rest of the bootstrap phase (units already run are skipped), then
   * every host unit; or closed again if an essential unit fails.
   */
  private async reopenGate(): Promise<void> {
    try {
      await runBootstrapPhase(this.reconciler.units, this.bootstrap);
    } catch (e) {
      if (!(e instanceof EssentialBootstrapError)) throw e;
      this.closeGate(e, this.afterGate);
      return;
    }
    this.reconciler.blockedBy = undefined;
    this.gateClosedBy = undefined;
    this.reconciler.bootstrapPhaseDone = true;
    await this.reconciler.startAll();
    const after = this.afterGate;
    this.afterGate = () => undefined;
    after();
    this.daemon.announce(this.reconciler.summary());
  }

  /** Stop watching (berthd exiting); units keep running. */
  close(): void {
    this.watch.close();
    this.rollouts.close();
    for (const u of this.reconciler.units.values()) u.clearTimers();
  }
}
