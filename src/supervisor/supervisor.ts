import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { UnitSpec } from '../units/types.js';
import { specHash, signalNumber, bootstrapRunOrder } from '../units/index.js';
import { buildSpec } from '../spec/index.js';
import type { ImageConfig, SpecContext } from '../spec/types.js';
import { AlreadyExistsError } from '../containerd/errors.js';
import { LABELS, RuntimeUnavailableError, type ExitInfo, type Runtime, type RunningTask, type StartGuard } from '../runtime/types.js';
import { hostPathGuard, HostPathRefusedError } from '../runtime/host-path-guard.js';
import { unitHostPathFacts } from '../spec/host-paths.js';
import { DEFAULT_BACKOFF, backoffDelay, nextAttempt, type BackoffPolicy } from './backoff.js';
import { shouldRestart } from './restart-policy.js';
import { UnitRecord } from './unit-record.js';
import type { LogStore } from './log-store.js';
import type { ExecRequest, ExecSession, LogLine, SupervisorApi, SupervisorEvent, UnitEvent, UnitStatus } from './types.js';

export interface SupervisorDeps {
  runtime: Runtime;
  logs: LogStore;
  logger: Logger;
  /**
   * Makes sure an image is present (import/pull) and returns its config and top snapshot (chain id).
   * `signal` aborts when the unit is stopped, disabled or removed while it waits for the image.
   */
  ensureImage(ref: string, onProgress?: (message: string) => void, signal?: AbortSignal): Promise<{ config: ImageConfig; snapshotParent: string }>;
  /** Forget what ensureImage cached for `ref` (a create found the image gone). */
  forgetImage?(ref: string): void;
  /** Host facts for the spec builder (state dir, API socket, SELinux, …) for one unit. */
  specContext(unit: UnitSpec, image: ImageConfig): SpecContext;
  /** Creates the unit's host dirs and writes its decoded user-data. */
  prepareHostDirs(unit: UnitSpec, hostDirs: string[]): Promise<void>;
  /** Bootstrap bookkeeping: `once` units are remembered forever, `always` ones per boot. */
  bootstrapMarkers: { done(unit: UnitSpec): Promise<boolean>; mark(unit: UnitSpec): Promise<void> };
  backoff?: BackoffPolicy;
  /** Told when the runtime's event stream breaks (berthd restarts a managed containerd). */
  onRuntimeDisconnected?: () => void;
}

export class UnknownUnitError extends Error {
  constructor(readonly unit: string) {
    super(`unit ${JSON.stringify(unit)} not found`);
    this.name = 'UnknownUnitError';
  }
}

export class EssentialBootstrapError extends Error {
  constructor(readonly unit: string, reason: string) {
    super(`essential bootstrap unit ${unit} failed: ${reason}; host units are not started`);
    this.name = 'EssentialBootstrapError';
  }
}

/** States in which a unit has no live task and may be (re)started. */
const IDLE = new Set(['stopped', 'exited', 'failed', 'backing-off', 'waiting']);

/**
 * One state machine per unit, driven by the runtime's exit reports and event stream (never by polling):
 * restart policy with backoff, dependency gating, health checks, bootstrap ordering, adoption of running
 * tasks, and recovery after the runtime comes back.
 */
export class Supervisor implements SupervisorApi {
  private readonly units = new Map<string, UnitRecord>();
  private readonly bus = new EventEmitter();
  private readonly backoff: BackoffPolicy;
  private readonly watchAbort = new AbortController();
  private runtimeUp = true;
  private ready = false;
  private blockedBy: string | undefined;
  private statusMessage = 'starting';
  private bootstrapPhaseDone = false;

  constructor(private readonly deps: SupervisorDeps) {
    this.backoff = deps.backoff ?? DEFAULT_BACKOFF;
    this.bus.setMaxListeners(0);
  }

  // ---- public API -----------------------------------------------------------------------------------

  list(): UnitStatus[] {
    return [...this.units.values()].map((u) => u.status());
  }

  get(name: string): UnitStatus | undefined {
    return this.units.get(name)?.status();
  }

  status(): { ready: boolean; containerd: 'connected' | 'unavailable'; message: string } {
    return { ready: this.ready, containerd: this.runtimeUp ? 'connected' : 'unavailable', message: this.statusMessage };
  }

  private require(name: string): UnitRecord {
    const u = this.units.get(name);
    if (!u) throw new UnknownUnitError(name);
    return u;
  }

  async start(name: string): Promise<UnitStatus> {
    const u = this.require(name);
    u.desired = 'running';
    u.attempt = 0;
    u.ended = false;
    if (u.spec.class === 'bootstrap') {
      await u.serialize(() => this.runBootstrapUnit(u));
      return u.status();
    }
    if (u.state === 'backing-off') u.clearTimers();
    // Only an idle unit is started: start on a running one went running → preparing (an illegal
    // transition), which was handled as a failed start — its container removed, the unit backing off
    // (found by the chaos suite's API fuzzing, R4). Starting a running unit is now a no-op.
    await u.serialize(async () => {
      if (IDLE.has(u.state)) await this.activate(u);
    });
    return u.status();
  }

  async stop(name: string): Promise<UnitStatus> {
    const u = this.require(name);
    u.desired = 'stopped';
    u.abortLaunch(); // a pull in progress would otherwise hold the stop behind it
    await u.serialize(() => this.deactivate(u, 'stopped on request'));
    this.kickWaiting();
    return u.status();
  }

  async restart(name: string): Promise<UnitStatus> {
    const u = this.require(name);
    await u.serialize(() => this.deactivate(u, 'restarting on request'));
    return this.start(name);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.units.values()].map((u) => this.stop(u.name)));
  }

  logs(name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine> {
    this.require(name);
    return this.deps.logs.read(name, opts);
  }

  async exec(req: ExecRequest): Promise<ExecSession> {
    const u = this.require(req.unit);
    if (u.state !== 'running') throw new Error(`unit ${u.name} is not running (state ${u.state})`);
    const h = await this.deps.runtime.exec(u.containerId, req.args, { tty: req.tty, stdin: true, env: req.env });
    if (req.tty && req.cols && req.rows) await h.resize(req.cols, req.rows).catch(() => undefined);
    // Output may still be in the FIFOs when the process exits: clean up only once both streams ended.
    const ended = (s: NodeJS.ReadableStream | undefined): Promise<void> =>
      s ? new Promise((r) => (s.once('end', () => r()), s.once('close', () => r()), s.once('error', () => r()))) : Promise.resolve();
    const drained = Promise.all([ended(h.stdout), ended(h.stderr)]);
    const exitCode = h.exited.then(async (code) => {
      // A TTY's stream may stay open after the process exits (the shim holds the console): wait briefly.
      await Promise.race([drained, new Promise((r) => setTimeout(r, req.tty ? 300 : 5000).unref())]);
      await h.cleanup().catch(() => undefined);
      return code;
    });
    return { stdin: h.stdin!, stdout: h.stdout, stderr: h.stderr, resize: (c, r) => h.resize(c, r), closeStdin: () => h.closeStdin(), exitCode };
  }

  async *events(signal: AbortSignal): AsyncGenerator<SupervisorEvent> {
    const queue: SupervisorEvent[] = [];
    let wake: (() => void) | undefined;
    const on = (e: SupervisorEvent): void => {
      queue.push(e);
      wake?.();
    };
    this.bus.on('event', on);
    try {
      while (!signal.aborted) {
        while (queue.length) yield queue.shift()!;
        if (signal.aborted) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        wake = undefined;
      }
    } finally {
      this.bus.off('event', on);
    }
  }

  // ---- desired state --------------------------------------------------------------------------------

  private emitUnit = (u: UnitRecord, e: UnitEvent): void => {
    this.bus.emit('event', { kind: 'unit', unit: u.name, state: e.state, message: e.message, at: e.at } satisfies SupervisorEvent);
    if (e.state !== 'running' || u.health !== 'unknown') this.kickWaiting();
  };

  private daemonEvent(message: string): void {
    this.statusMessage = message;
    this.deps.logger.info({ status: message }, 'status');
    this.bus.emit('event', { kind: 'daemon', message, at: new Date().toISOString() } satisfies SupervisorEvent);
  }

  /**
   * Set the desired units. New ones are added, removed ones stopped and forgotten, changed specs replaced
   * (only those: an unchanged unit is never touched), and desired running/stopped applied.
   */
  async setDesired(specs: UnitSpec[], desired: (spec: UnitSpec) => 'running' | 'stopped'): Promise<void> {
    const wanted = new Map(specs.map((s) => [s.name, s]));
    const ops: Promise<unknown>[] = [];
    for (const u of this.units.values()) {
      if (!wanted.has(u.name)) {
        u.desired = 'stopped';
        u.abortLaunch();
        ops.push(u.serialize(() => this.deactivate(u, 'unit removed')).then(() => this.units.delete(u.name)));
      }
    }
    for (const spec of specs) {
      const hash = specHash(spec);
      let u = this.units.get(spec.name);
      const want = desired(spec);
      if (!u) {
        u = new UnitRecord(spec, hash, this.deps.runtime.namespace, this.emitUnit);
        u.desired = want;
        this.units.set(spec.name, u);
        if (want === 'running' && this.bootstrapPhaseDone && spec.class !== 'bootstrap') ops.push(this.startRecord(u));
        continue;
      }
      const changed = u.hash !== hash;
      const record = u;
      const wasDesired = record.desired;
      if (changed) {
        record.abortLaunch();
        ops.push(record.serialize(async () => {
          const wasActive = !IDLE.has(record.state) || record.state === 'backing-off';
          if (wasActive) await this.deactivate(record, 'spec changed');
          record.spec = spec;
          record.hash = hash;
        }));
      }
      record.desired = want;
      // Re-applying the same desired state (another workload run or removed, any settings commit) is not a
      // request to run again a unit whose run ended for good (`restart never`): that restarted it. Nor is
      // "stopped" for it (the workload manager persists that it ended) a reason to touch it: it stays exited.
      if (changed || (want !== wasDesired && !(want === 'stopped' && record.ended))) record.ended = false;
      if (spec.class === 'bootstrap' || !this.bootstrapPhaseDone || record.ended) continue;
      if (want === 'running') ops.push(this.startRecord(record));
      else {
        record.abortLaunch();
        ops.push(record.serialize(() => this.deactivate(record, 'disabled')));
      }
    }
    await Promise.all(ops);
  }

  private startRecord(u: UnitRecord): Promise<void> {
    return u.serialize(async () => {
      if (u.desired !== 'running' || !IDLE.has(u.state) || u.state === 'backing-off') return;
      await this.activate(u);
    });
  }

  // ---- start-up ---------------------------------------------------------------------------------------

  /**
   * Adopt what is already running, run bootstrap units, then start the rest. Resolves once the first
   * reconcile has settled (every unit has started, failed, or is waiting on something).
   */
  async run(): Promise<void> {
    void this.watchRuntime();
    try {
      await this.adopt();
    } catch (e) {
      // The engine is down at start-up (e.g. workloads.runtime = "docker" with no Docker running): berthd
      // must not exit over it — that took host supervision and the API down with the workload engine
      // (found by the chaos suite, R6). Units then fail to start and back off; the runtime's `resync` event
      // retries them once the engine answers. (Tasks that were running are replaced, not adopted, then.)
      if (!(e instanceof RuntimeUnavailableError)) throw e;
      this.markRuntimeDown(e.message);
    }
    try {
      await this.runBootstrapPhase();
    } catch (e) {
      if (!(e instanceof EssentialBootstrapError)) throw e;
      this.blockedBy = e.message;
      this.daemonEvent(e.message);
      this.ready = true;
      return;
    }
    this.bootstrapPhaseDone = true;
    await Promise.all([...this.units.values()].filter((u) => u.spec.class !== 'bootstrap' && u.desired === 'running').map((u) => this.startRecord(u)));
    this.ready = true;
    this.daemonEvent(this.summary());
  }

  get blocked(): string | undefined {
    return this.blockedBy;
  }

  private summary(): string {
    const all = [...this.units.values()];
    const running = all.filter((u) => u.state === 'running').length;
    const failed = all.filter((u) => u.state === 'failed' || u.state === 'backing-off').length;
    return `${running} running, ${failed} failing, ${all.length} units`;
  }

  /** Re-adopt running tasks whose spec hash matches; remove every other berth container (nothing orphaned). */
  private async adopt(): Promise<void> {
    const containers = await this.deps.runtime.listManaged();
    await Promise.all(containers.map(async (c) => {
      const u = this.units.get(c.labels[LABELS.unit] ?? '');
      const adoptable = u && u.spec.class !== 'bootstrap' && u.desired === 'running' && c.id === u.containerId && c.task?.status === 'running' && c.labels[LABELS.specHash] === u.hash;
      if (!adoptable || !u) {
        this.deps.logger.info({ container: c.id, unit: u?.name }, u ? 'replacing container (spec changed, stopped or not wanted)' : 'removing container no unit claims');
        await this.deps.runtime.remove(c.id);
        return;
      }
      const task = await this.deps.runtime.adopt(c.id, u.name);
      u.selinux = {
        processLabel: c.labels[LABELS.selinuxProcess] ?? '',
        mountLabel: c.labels[LABELS.selinuxMount] ?? '',
        applied: c.labels[LABELS.selinuxApplied] === 'true',
        reason: 'adopted',
      };
      u.resetHealth();
      u.setState('running', `adopted running task (pid ${task.pid})`);
      this.armRun(u, task, Date.now());
    }));
  }

  private async runBootstrapPhase(): Promise<void> {
    const order = bootstrapRunOrder([...this.units.values()].map((u) => u.spec));
    for (const spec of order) {
      const u = this.units.get(spec.name)!;
      if (u.desired !== 'running' || spec.bootstrap?.mode === 'off') continue;
      if (await this.deps.bootstrapMarkers.done(spec)) {
        u.setState('exited', `already ran (${spec.bootstrap?.mode})`);
        continue;
      }
      await u.serialize(() => this.runBootstrapUnit(u));
    }
  }

  /** Run a bootstrap unit to completion; an essential one that fails throws. */
  private async runBootstrapUnit(u: UnitRecord): Promise<void> {
    const essential = u.spec.bootstrap?.essential ?? false;
    let exit: ExitInfo;
    try {
      const task = await this.launch(u);
      exit = await task.exited;
      u.generation++;
      u.pid = 0;
      u.exitCode = exit.exitCode;
      await this.deps.runtime.remove(u.containerId);
    } catch (e) {
      u.lastError = e instanceof Error ? e.message : String(e);
      u.setState('failed', u.lastError);
      if (essential) throw new EssentialBootstrapError(u.name, u.lastError);
      this.deps.logger.warn({ unit: u.name, err: u.lastError }, 'non-essential bootstrap unit failed; continuing');
      return;
    }
    if (exit.exitCode === 0) {
      await this.deps.bootstrapMarkers.mark(u.spec);
      u.setState('exited', 'completed (exit 0)');
      return;
    }
    u.lastError = `exited with status ${exit.exitCode}`;
    u.setState('failed', u.lastError);
    if (essential) throw new EssentialBootstrapError(u.name, u.lastError);
    this.deps.logger.warn({ unit: u.name, exitCode: exit.exitCode }, 'non-essential bootstrap unit failed; continuing');
  }

  // ---- running a unit ---------------------------------------------------------------------------------

  private unmetDependencies(u: UnitRecord): string[] {
    return u.spec.dependsOn.filter((d) => !this.units.get(d)?.up);
  }

  /** Start waiting units whose dependencies came up. */
  private kickWaiting(): void {
    for (const u of this.units.values()) {
      if (u.state === 'waiting' && u.desired === 'running' && this.unmetDependencies(u).length === 0) void this.startRecord(u);
    }
  }

  /** Bring a unit from idle to running (or to waiting/backing-off/failed). Runs inside the unit's chain. */
  private async activate(u: UnitRecord): Promise<void> {
    if (u.desired !== 'running' || this.blockedBy) return;
    const unmet = this.unmetDependencies(u);
    if (unmet.length > 0) {
      if (u.state !== 'waiting') u.setState('waiting', `waiting for ${unmet.join(', ')}`);
      return;
    }
    let task: RunningTask;
    const startedAt = Date.now();
    try {
      task = await this.launch(u);
    } catch (e) {
      this.onStartFailure(u, e, startedAt);
      return;
    }
    this.armRun(u, task, startedAt);
  }

  /** preparing → starting → running: image, spec, host dirs, a fresh container, the task. */
  private async launch(u: UnitRecord): Promise<RunningTask> {
    u.clearTimers();
    u.setState('preparing', `preparing image ${u.spec.image}`);
    // A pull reports progress ("pulling REF: 1/3 layers, …") in the unit's state, at most once a second.
    let lastReport = 0;
    const image = await u.launching((signal) => this.deps.ensureImage(u.spec.image, (message) => {
      if (Date.now() - lastReport < 1000 || u.state !== 'preparing') return;
      lastReport = Date.now();
      u.setState('preparing', message);
    }, signal));
    let ctx = this.deps.specContext(u.spec, image.config);
    let guard: StartGuard | undefined;
    if (u.spec.class === 'workload' && u.spec.mounts.some((m) => m.type === 'bind')) {
      // Workload bind sources: resolved on the host now, at every start (not only when the workload was
      // requested: an allowed dir may have changed since, e.g. a link planted by the workload itself), and
      // checked again right before runc mounts them (the guard).
      const policy = { hostPathAllowList: ctx.hostPathAllowList, stateDir: ctx.stateDir, runDir: ctx.runDir, apiSocketPath: ctx.apiSocketPath };
      const facts = await unitHostPathFacts(u.spec, policy);
      ctx = { ...ctx, hostPaths: facts };
      guard = hostPathGuard(u.spec, facts, policy);
    }
    const built = buildSpec(u.spec, ctx);
    if (!built.ok) throw new SpecError(built.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
    u.selinux = built.selinux;
    await this.deps.prepareHostDirs(u.spec, built.hostDirs);
    u.setState('starting', 'creating container');
    const labels = {
      [LABELS.unit]: u.name,
      [LABELS.class]: u.spec.class,
      [LABELS.specHash]: u.hash,
      [LABELS.selinuxProcess]: built.selinux.processLabel,
      [LABELS.selinuxMount]: built.selinux.mountLabel,
      [LABELS.selinuxApplied]: String(built.selinux.applied),
    };
    try {
      await this.deps.runtime.create(u.containerId, u.spec.image, built.spec, labels, image.snapshotParent);
    } catch (e) {
      if (e instanceof AlreadyExistsError) {
        // A leftover of this id (a crash between create and start): replace it, once.
        await this.deps.runtime.remove(u.containerId);
        await this.deps.runtime.create(u.containerId, u.spec.image, built.spec, labels, image.snapshotParent);
      } else {
        this.deps.forgetImage?.(u.spec.image);
        throw e;
      }
    }
    const task = await this.deps.runtime.start(u.containerId, u.name, guard);
    u.oomKilled = false;
    u.exitCode = undefined;
    u.lastError = undefined;
    u.resetHealth(); // before "running" is announced: dependents must not see a not-yet-checked unit as up
    u.setState('running', `started (pid ${task.pid})`);
    return task;
  }

  /** Watch a run: its exit, and its health checks. */
  private armRun(u: UnitRecord, task: RunningTask, startedAt: number): void {
    const generation = ++u.generation;
    u.task = task;
    u.pid = task.pid;
    u.startedAtMs = startedAt;
    task.exited.then(
      (exit) => this.onExit(u, generation, exit),
      (err: unknown) => {
        if (err instanceof RuntimeUnavailableError) this.markRuntimeDown(String(err.message));
        else this.deps.logger.warn({ unit: u.name, err: String(err) }, 'wait failed');
      },
    );
    if (u.spec.health) this.scheduleHealth(u, generation, u.spec.health.intervalMs);
    this.kickWaiting();
  }

  private onExit(u: UnitRecord, generation: number, exit: ExitInfo): void {
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
      this.afterFailure(u, why, exit.exitCode, ranMs);
    });
  }

  private onStartFailure(u: UnitRecord, e: unknown, startedAt: number): void {
    const message = e instanceof Error ? e.message : String(e);
    u.lastError = message;
    this.deps.logger.warn({ unit: u.name, err: message }, 'start failed');
    if (e instanceof RuntimeUnavailableError) this.markRuntimeDown(message);
    if (e instanceof SpecError) {
      // A spec the host refuses will not get better by retrying.
      u.setState('failed', message);
      return;
    }
    if (e instanceof HostPathRefusedError) {
      // Neither will a host path that changed under berth (a planted link stays planted): failed, with the
      // reason, and the container it created removed.
      void this.deps.runtime.remove(u.containerId).catch(() => undefined);
      u.setState('failed', message);
      return;
    }
    void this.deps.runtime.remove(u.containerId).catch(() => undefined);
    this.afterFailure(u, `start failed: ${message}`, -1, Date.now() - startedAt);
  }

  /** Decide between backing off and giving up, per restart policy. */
  private afterFailure(u: UnitRecord, why: string, exitCode: number, ranMs: number): void {
    if (u.desired !== 'running') {
      u.setState('stopped', why);
      return;
    }
    if (!shouldRestart(u.spec.restart.policy, exitCode, false)) {
      // A start failure (exitCode -1) is not an ended run: a later reconcile may still start it, as before.
      u.ended = exitCode >= 0;
      u.setState(exitCode === 0 ? 'exited' : 'failed', why);
      return;
    }
    u.attempt = nextAttempt(u.attempt, ranMs, this.backoff);
    const delay = backoffDelay(u.attempt - 1, this.backoff);
    u.nextRestartAtMs = Date.now() + delay;
    u.setState('backing-off', `${why}; restarting in ${(delay / 1000).toFixed(1)} s (attempt ${u.attempt})`);
    u.restartTimer = setTimeout(() => {
      u.restartTimer = undefined;
      u.nextRestartAtMs = undefined;
      void u.serialize(async () => {
        if (u.state !== 'backing-off' || u.desired !== 'running') return;
        u.restarts++;
        await this.activate(u);
      });
    }, delay);
  }

  /** Stop a unit's task (stop signal, timeout, SIGKILL) and remove its container. Runs inside the chain. */
  private async deactivate(u: UnitRecord, why: string): Promise<void> {
    u.clearTimers();
    const task = u.task;
    u.generation++; // the exit we are about to cause is ours, not a crash
    if (task && u.state === 'running') {
      u.setState('stopping', why);
      const signal = signalNumber(u.spec.stop.signal ?? 'SIGTERM') ?? 15;
      try {
        await this.deps.runtime.signal(u.containerId, signal);
        const timedOut = await Promise.race([task.exited.then(() => false, () => false), new Promise<boolean>((r) => setTimeout(() => r(true), u.spec.stop.timeoutMs).unref())]);
        if (timedOut) {
          await this.deps.runtime.signal(u.containerId, 9);
          await Promise.race([task.exited.catch(() => undefined), new Promise((r) => setTimeout(r, 10_000).unref())]);
        }
        await this.deps.runtime.remove(u.containerId);
      } catch (e) {
        u.lastError = e instanceof Error ? e.message : String(e);
        u.task = undefined;
        u.pid = 0;
        u.setState('failed', `stop failed: ${u.lastError}`);
        return;
      }
    } else {
      await this.deps.runtime.remove(u.containerId).catch(() => undefined);
    }
    u.task = undefined;
    u.pid = 0;
    u.resetHealth();
    if (u.state !== 'stopped') u.setState('stopped', why);
  }

  // ---- health -----------------------------------------------------------------------------------------

  private scheduleHealth(u: UnitRecord, generation: number, delayMs: number): void {
    const health = u.spec.health;
    if (!health) return;
    u.healthTimer = setTimeout(() => void this.checkHealth(u, generation), delayMs);
  }

  private async checkHealth(u: UnitRecord, generation: number): Promise<void> {
    const health = u.spec.health;
    if (!health || generation !== u.generation || u.state !== 'running') return;
    let ok = false;
    try {
      const h = await this.deps.runtime.exec(u.containerId, health.command, { tty: false, stdin: false });
      h.stdout.resume();
      h.stderr?.resume();
      const code = await Promise.race([h.exited, new Promise<number>((r) => setTimeout(() => r(-1), health.timeoutMs).unref())]);
      if (code === -1) await h.kill().catch(() => undefined);
      await h.cleanup().catch(() => undefined);
      ok = code === 0;
    } catch {
      ok = false;
    }
    if (generation !== u.generation || u.state !== 'running') return;
    const before = u.health;
    // As Docker does: failures during the start period do not count, a success counts at once.
    const inGrace = Date.now() - (u.startedAtMs ?? 0) < health.startPeriodMs;
    if (ok) {
      u.healthFailures = 0;
      u.health = 'healthy';
    } else if (!inGrace && ++u.healthFailures >= health.retries) {
      u.health = 'unhealthy';
    }
    if (u.health !== before) {
      u.events.push({ at: new Date().toISOString(), state: u.state, message: `health: ${u.health}` });
      this.bus.emit('event', { kind: 'unit', unit: u.name, state: u.state, message: `health: ${u.health}`, at: new Date().toISOString() } satisfies SupervisorEvent);
      this.kickWaiting();
    }
    if (u.health === 'unhealthy') {
      // Like Quadlet's HealthOnFailure=kill: an unhealthy unit is killed and its restart policy applies.
      u.lastError = `health check failed ${u.healthFailures} times`;
      await this.deps.runtime.signal(u.containerId, 9).catch(() => undefined);
      return;
    }
    this.scheduleHealth(u, generation, health.intervalMs);
  }

  // ---- runtime outages --------------------------------------------------------------------------------

  private markRuntimeDown(reason: string): void {
    if (!this.runtimeUp) return;
    this.runtimeUp = false;
    this.daemonEvent(`containerd unavailable: ${reason}`);
  }

  private async watchRuntime(): Promise<void> {
    try {
      for await (const ev of this.deps.runtime.watch(this.watchAbort.signal)) {
        if (ev.kind === 'disconnected') {
          this.markRuntimeDown(ev.reason);
          this.deps.onRuntimeDisconnected?.();
        }
        else if (ev.kind === 'resync') await this.resync();
        else if (ev.kind === 'oom') {
          const u = this.byContainer(ev.id);
          if (u) u.oomKilled = true;
        } else if (ev.kind === 'exit') {
          const u = this.byContainer(ev.id);
          if (u && u.state === 'running' && u.task) this.onExit(u, u.generation, { exitCode: ev.exitCode, at: new Date() });
        }
      }
    } catch (e) {
      if (!this.watchAbort.signal.aborted) this.deps.logger.error({ err: String(e) }, 'runtime event stream ended');
    }
  }

  private byContainer(id: string): UnitRecord | undefined {
    for (const u of this.units.values()) if (u.containerId === id) return u;
    return undefined;
  }

  /** After the runtime comes back: re-check every running unit, re-arm waits, restart what died. */
  private async resync(): Promise<void> {
    this.runtimeUp = true;
    this.daemonEvent('containerd connected; reconciling');
    await Promise.all([...this.units.values()].map(async (u) => {
      if (u.state === 'running' && u.task) {
        const generation = u.generation;
        const t = await this.deps.runtime.taskState(u.containerId).catch(() => undefined);
        if (t?.status === 'running' && t.pid === u.pid) {
          const task = await this.deps.runtime.rewait(u.containerId).catch(() => undefined);
          if (task && generation === u.generation) {
            u.task = task;
            task.exited.then((exit) => this.onExit(u, generation, exit), () => undefined);
            return;
          }
        }
        this.onExit(u, generation, { exitCode: t?.exitStatus ?? 255, at: new Date() });
      } else if (u.state === 'failed' && u.desired === 'stopped') {
        // A stop that failed because the runtime was gone left its container (and maybe task) behind: finish
        // it now, or the container leaks for good (found by the chaos suite, R2: containerd killed mid-stop).
        await u.serialize(() => this.deactivate(u, 'stopped (retried after the runtime came back)'));
      } else if (u.state === 'backing-off' && u.desired === 'running') {
        // It was failing because the runtime was gone: try again now rather than after the backoff.
        u.clearTimers();
        await u.serialize(async () => {
          if (u.state === 'backing-off') {
            u.restarts++;
            await this.activate(u);
          }
        });
      }
    }));
    await this.removeLeftovers();
    this.daemonEvent(this.summary());
  }

  /**
   * A stopped unit's container whose removal failed while the runtime was gone (a start that died half-way
   * in Tasks.Create, then a stop, both with containerd down) would otherwise leak for good: remove it now
   * (found by the chaos suite, R2).
   */
  private async removeLeftovers(): Promise<void> {
    const containers = await this.deps.runtime.listManaged().catch(() => []);
    const resting = (u: UnitRecord): boolean => u.desired === 'stopped' && (u.state === 'stopped' || u.state === 'exited');
    await Promise.all(containers.map(async (c) => {
      const u = this.byContainer(c.id);
      if (u === undefined || !resting(u)) return;
      await u.serialize(async () => {
        if (resting(u)) await this.deps.runtime.remove(c.id).catch((e: unknown) => this.deps.logger.warn({ unit: u.name, err: String(e) }, 'removing a leftover container failed'));
      });
    }));
  }

  /** Stop watching (berthd exiting); units keep running. */
  close(): void {
    this.watchAbort.abort();
    for (const u of this.units.values()) u.clearTimers();
  }
}

class SpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpecError';
  }
}
