import { signalNumber } from '../units/index.js';
import { finishSpec } from '../ocispec/plan.js';
import type { SelinuxDecision } from '../ocispec/types.js';
import { AlreadyExistsError, RuntimeUnavailableError } from '../runtime/errors.js';
import { LABELS, type ExitInfo, type RunningTask, type StartGuard } from '../runtime/types.js';
import { hostPathGuard } from '../runtime/host-path-guard.js';
import { unitHostPathFacts } from '../runtime/host-paths.js';
import { prepareHostDirs } from '../runtime/host-dirs.js';
import type { HostPathFacts } from '../ocispec/host-path-rules.js';
import type { SupervisorDeps } from './deps.js';
import { SpecError } from './errors.js';
import { IllegalTransitionError } from './state-machine.js';
import type { DaemonStatus } from './status.js';
import type { UnitRecord } from './unit-record.js';
import type { StopObserver, StopProgress, UnitState } from './types.js';

/** What the runner tells the rest of the supervisor; it decides nothing about restarts or dependencies. */
export interface RunnerHooks {
  /** A run is being watched (health checks begin; dependents waiting on it may start). */
  armed(u: UnitRecord, generation: number): void;
  /** A run ended by itself and its container is gone: the restart wrapper decides what follows. */
  ended(u: UnitRecord, why: string, exitCode: number, ranMs: number): void | Promise<void>;
}

/**
 * How a unit runs (Talos's Runner to the unit spec's Service): launch, watch, stop, and every change of a
 * unit's state. Nothing else calls UnitRecord.setState, so the transition table is enforced in one place.
 */
export class Runner {
  constructor(private readonly deps: SupervisorDeps, private readonly daemon: DaemonStatus, private readonly hooks: RunnerHooks) {}

  // ---- state changes decided elsewhere (reconciler, restart wrapper, bootstrap) -----------------------

  waitFor(u: UnitRecord, unmet: string[]): void {
    if (u.state !== 'waiting') this.transition(u, 'waiting', `waiting for ${unmet.join(', ')}`);
  }

  fail(u: UnitRecord, message: string): void {
    this.transition(u, 'failed', message);
  }

  exited(u: UnitRecord, message: string): void {
    this.transition(u, 'exited', message);
  }

  stopped(u: UnitRecord, message: string): void {
    this.transition(u, 'stopped', message);
  }

  backingOff(u: UnitRecord, message: string): void {
    this.transition(u, 'backing-off', message);
  }

  /**
   * A refused transition throws: the caller's next steps (timers, containers) assumed the new state, so
   * carrying on would leave the record and reality apart. Logged here too, so it is loud even where the
   * throw ends up as a failed start.
   */
  private transition(u: UnitRecord, to: UnitState, message: string): void {
    try {
      u.setState(to, message);
    } catch (e) {
      if (e instanceof IllegalTransitionError) this.deps.logger.error({ unit: u.name, from: e.from, to: e.to, message }, 'illegal state transition refused');
      throw e;
    }
  }

  // ---- launch -----------------------------------------------------------------------------------------

  /** preparing → starting → running: image, spec, host dirs, a fresh container, the task. */
  async launch(u: UnitRecord): Promise<RunningTask> {
    u.clearTimers();
    this.transition(u, 'preparing', `preparing image ${u.spec.image}`);
    // A pull reports progress ("pulling REF: 1/3 layers, …") in the unit's state, at most once a second.
    let lastReport = 0;
    const { runtime } = this.deps;
    const plan = u.plan;
    // A unit that breaks a host rule whatever its image says is refused before any pull.
    if (plan.refused) throw new SpecError(plan.refused.map((e) => `${e.path}: ${e.message}`).join('; '));
    const image = await u.launching((signal) => runtime.images.ensure(plan.unit.image, (message) => {
      if (Date.now() - lastReport < 1000 || u.state !== 'preparing') return;
      lastReport = Date.now();
      this.transition(u, 'preparing', message);
    }, signal));
    let hostPaths: HostPathFacts | undefined;
    let guard: StartGuard | undefined;
    if (plan.unit.class === 'workload' && plan.unit.mounts.some((m) => m.type === 'bind')) {
      // Workload bind sources: resolved on the host now, at every start (not only when the workload was
      // requested: an allowed dir may have changed since, e.g. a link planted by the workload itself), and
      // checked again right before runc mounts them (the guard).
      const { ctx } = plan;
      const policy = { hostPathAllowList: ctx.hostPathAllowList, stateDir: ctx.stateDir, runDir: ctx.runDir, apiSocketPath: ctx.apiSocketPath };
      hostPaths = await unitHostPathFacts(plan.unit, policy);
      guard = hostPathGuard(plan.unit, hostPaths, policy);
    }
    const built = finishSpec(plan, { image: image.config, ...(hostPaths ? { hostPaths } : {}) });
    if (!built.ok) throw new SpecError(built.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
    u.selinux = built.selinux;
    await prepareHostDirs(plan.hostDirs);
    this.transition(u, 'starting', 'creating container');
    const labels = {
      [LABELS.unit]: u.name,
      [LABELS.class]: u.spec.class,
      [LABELS.specHash]: u.hash,
      [LABELS.selinuxProcess]: built.selinux.processLabel,
      [LABELS.selinuxMount]: built.selinux.mountLabel,
      [LABELS.selinuxApplied]: String(built.selinux.applied),
      ...(image.digest ? { [LABELS.imageDigest]: image.digest } : {}),
    };
    u.imageDigest = image.digest;
    try {
      await runtime.create(u.containerId, plan.unit.image, built.spec, labels, image.snapshotParent);
    } catch (e) {
      if (e instanceof AlreadyExistsError) {
        // A leftover of this id (a crash between create and start): replace it, once.
        await runtime.remove(u.containerId);
        await runtime.create(u.containerId, plan.unit.image, built.spec, labels, image.snapshotParent);
      } else {
        runtime.images.forget(plan.unit.image);
        throw e;
      }
    }
    const task = await runtime.start(u.containerId, u.name, guard);
    u.oomKilled = false;
    u.exitCode = undefined;
    u.lastError = undefined;
    u.resetHealth(); // before "running" is announced: dependents must not see a not-yet-checked unit as up
    this.transition(u, 'running', `started (pid ${task.pid})`);
    return task;
  }

  /** Attach to a task found running at start-up: stopped → starting → running, never straight to running. */
  adopt(u: UnitRecord, task: RunningTask, selinux: SelinuxDecision, imageDigest?: string): void {
    u.selinux = selinux;
    u.imageDigest = imageDigest;
    this.transition(u, 'starting', `adopting running task (pid ${task.pid})`);
    u.resetHealth();
    this.transition(u, 'running', `adopted running task (pid ${task.pid})`);
    this.arm(u, task, Date.now());
  }

  /** A bootstrap run: launch, wait for the exit, remove the container. The caller decides what it means. */
  async runToCompletion(u: UnitRecord): Promise<ExitInfo> {
    const task = await this.launch(u);
    const exit = await task.exited;
    u.generation++;
    u.pid = 0;
    u.exitCode = exit.exitCode;
    await this.deps.runtime.remove(u.containerId);
    return exit;
  }

  // ---- watching a run ---------------------------------------------------------------------------------

  /** Watch a run: its exit (and, through the hooks, its health checks). */
  arm(u: UnitRecord, task: RunningTask, startedAt: number): void {
    const generation = ++u.generation;
    u.armedGeneration = generation;
    u.task = task;
    u.pid = task.pid;
    u.startedAtMs = startedAt;
    this.watchExit(u, generation, task);
    this.hooks.armed(u, generation);
  }

  /** After the runtime came back: the same run, waited on again (its task handle is new). */
  rearm(u: UnitRecord, generation: number, task: RunningTask): void {
    u.armedGeneration = generation;
    u.task = task;
    task.exited.then((exit) => this.exitObserved(u, generation, exit), () => undefined);
  }

  private watchExit(u: UnitRecord, generation: number, task: RunningTask): void {
    task.exited.then(
      (exit) => this.exitObserved(u, generation, exit),
      (err: unknown) => {
        if (err instanceof RuntimeUnavailableError) this.daemon.runtimeDown(String(err.message));
        else this.deps.logger.warn({ unit: u.name, err: String(err) }, 'wait failed');
      },
    );
  }

  /** A run's task exited (reported by its wait, the event stream or a resync; whichever comes first). */
  exitObserved(u: UnitRecord, generation: number, exit: ExitInfo): void {
    if (generation !== u.generation) return; // an old run, or a stop already handled it
    u.generation++;
    void u.serialize(async () => {
      u.clearTimers();
      u.pid = 0;
      u.task = undefined;
      u.exitCode = exit.exitCode;
      const ranMs = Date.now() - (u.startedAtMs ?? Date.now());
      const why = u.oomKilled ? `killed by the OOM killer (exit ${exit.exitCode})` : u.lastError && u.health === 'unhealthy' ? u.lastError : `exited with status ${exit.exitCode}`;
      await this.deps.runtime.remove(u.containerId).catch((e: unknown) => this.deps.logger.warn({ unit: u.name, err: String(e) }, 'remove after exit failed'));
      await this.hooks.ended(u, why, exit.exitCode, ranMs);
    }).catch((e: unknown) => this.deps.logger.error({ unit: u.name, err: String(e) }, 'handling an exit failed'));
  }

  // ---- stopping ---------------------------------------------------------------------------------------

  /**
   * Stop a unit's task (stop signal, timeout, SIGKILL) and remove its container. Runs inside the chain.
   * `onProgress` hears each step as it happens (a stop may wait for its whole timeout: callers show it).
   */
  async stop(u: UnitRecord, why: string, onProgress?: StopObserver): Promise<void> {
    u.clearTimers();
    const task = u.task;
    const { runtime } = this.deps;
    const report = (p: Omit<StopProgress, 'unit'>): void => onProgress?.({ unit: u.name, ...p });
    u.generation++; // the exit we are about to cause is ours, not a crash
    if (task && u.state === 'running') {
      this.transition(u, 'stopping', why);
      const signalName = u.spec.stop.signal ?? 'SIGTERM';
      const signal = signalNumber(signalName) ?? 15;
      const timeoutMs = u.spec.stop.timeoutMs;
      const sentAt = Date.now();
      let exited: ExitInfo | undefined;
      const exit = task.exited.then((e) => void (exited = e), () => undefined);
      try {
        await runtime.signal(u.containerId, signal);
        report({ phase: 'signal', signal: signalName, timeoutMs, elapsedMs: 0 });
        const timedOut = await Promise.race([exit.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), timeoutMs).unref())]);
        if (timedOut) {
          await runtime.signal(u.containerId, 9);
          report({ phase: 'kill', signal: 'SIGKILL', elapsedMs: Date.now() - sentAt });
          await Promise.race([exit, new Promise((r) => setTimeout(r, 10_000).unref())]);
        }
        await runtime.remove(u.containerId);
        report({ phase: 'stopped', elapsedMs: Date.now() - sentAt, ...(exited ? { exitCode: (exited as ExitInfo).exitCode } : {}) });
      } catch (e) {
        u.lastError = e instanceof Error ? e.message : String(e);
        u.task = undefined;
        u.pid = 0;
        this.transition(u, 'failed', `stop failed: ${u.lastError}`);
        report({ phase: 'failed', elapsedMs: Date.now() - sentAt, message: u.lastError });
        return;
      }
    } else {
      report({ phase: 'not-running', elapsedMs: 0, message: u.state });
      await runtime.remove(u.containerId).catch(() => undefined);
    }
    u.task = undefined;
    u.pid = 0;
    u.resetHealth();
    if (u.state !== 'stopped') this.transition(u, 'stopped', why);
  }

  /** Best effort: a failed start may have left a container behind. */
  discardContainer(u: UnitRecord): void {
    void this.deps.runtime.remove(u.containerId).catch(() => undefined);
  }

  /** Health news (not a state change), in the unit's events and on the bus. */
  note(u: UnitRecord, message: string): void {
    u.note(message);
  }
}
