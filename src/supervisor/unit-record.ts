import type { UnitSpec } from '../units/types.js';
import type { RunningTask } from '../runtime/types.js';
import type { SelinuxDecision } from '../ocispec/types.js';
import type { SpecPlan } from '../ocispec/plan.js';
import { canTransition, IllegalTransitionError } from './state-machine.js';
import { EventRing } from './events.js';
import type { HealthState, UnitEvent, UnitState, UnitStatus } from './types.js';

/**
 * The supervisor's mutable record of one unit: desired vs actual, and its recent history. Its state is
 * changed only by the runner (runner.ts), through setState, which admits only the transition table's moves.
 */
export class UnitRecord {
  /** Read-only from outside: the only way to change it is setState (no assignment can skip the table). */
  private current: UnitState = 'stopped';
  desired: 'running' | 'stopped' = 'stopped';
  readonly events = new EventRing<UnitEvent>(64);
  restarts = 0;
  /** Restart attempt number since the last stable run (drives the backoff). */
  attempt = 0;
  pid = 0;
  exitCode: number | undefined;
  lastError: string | undefined;
  health: HealthState = 'none';
  healthFailures = 0;
  startedAtMs: number | undefined;
  nextRestartAtMs: number | undefined;
  selinux: SelinuxDecision | undefined;
  task: RunningTask | undefined;
  /** Bumped whenever a run ends or is superseded, so late exit reports of an old run are ignored. */
  generation = 0;
  /**
   * The generation of the run being watched (set when it is armed). Once its exit is observed, or a stop of
   * it begins, `generation` moves past it: a second report of that exit (the wait and the event stream both
   * report it) sees the difference even before the first report's handling has run.
   */
  armedGeneration = -1;
  oomKilled = false;
  /**
   * The last run exited and its restart policy does not run it again (`never`, or `on-failure` after exit 0).
   * It then stays down when the same desired state is applied again; start(), a changed spec or a changed
   * desired state run it. Reported as desired "stopped": nothing will start it by itself.
   */
  ended = false;
  /**
   * Stopped on request (`stop`, `stop-all`): the desired state the configuration last gave (`configured`)
   * no longer applies until `start`, or until the configuration itself changes its mind (off, then on).
   * Re-applying the same configuration (any settings commit) must not bring the unit back.
   */
  held = false;
  /** What the last setDesired wanted for this unit. */
  configured: 'running' | 'stopped' = 'stopped';
  /**
   * What the operator asked for, while the unit runs something else: during a rollout's pull (the previous
   * image still runs) and after a rollback (the previous image runs again). `plan`/`hash` are what runs.
   */
  asked: { plan: SpecPlan; hash: string } | undefined;
  /** Digest of the image the current (or last) run was made from. */
  imageDigest: string | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  healthTimer: NodeJS.Timeout | undefined;
  /** Operations on one unit run one after another. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Cancels the image wait of the launch in progress (a stop must not queue behind a hanging pull). */
  private launchAbort: AbortController | undefined;

  constructor(
    /** The planned spec this record runs (replaced by the reconciler when the desired state changes). */
    public plan: SpecPlan,
    public hash: string,
    readonly namespace: string,
    private readonly emit: (unit: UnitRecord, event: UnitEvent) => void,
  ) {}

  get spec(): UnitSpec {
    return this.plan.unit;
  }

  get state(): UnitState {
    return this.current;
  }

  get name(): string {
    return this.spec.name;
  }

  /** Container id: the unit name (identifier rules are stricter for names than for container ids). */
  get containerId(): string {
    return this.spec.name;
  }

  /** Throws IllegalTransitionError, changing nothing, for a move the table does not admit. */
  setState(state: UnitState, message: string): void {
    if (!canTransition(this.state, state)) throw new IllegalTransitionError(this.name, this.state, state);
    this.current = state;
    this.note(message);
  }

  /** Record an event in the current state (a state change, or news such as a health verdict). */
  note(message: string): void {
    const event = { at: new Date().toISOString(), state: this.state, message };
    this.events.push(event);
    this.emit(this, event);
  }

  serialize<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Run `op` (the image step of a launch) cancellable by `abortLaunch`. */
  async launching<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.launchAbort = controller;
    try {
      return await op(controller.signal);
    } finally {
      if (this.launchAbort === controller) this.launchAbort = undefined;
    }
  }

  abortLaunch(): void {
    this.launchAbort?.abort();
    this.launchAbort = undefined;
  }

  clearTimers(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.healthTimer) clearTimeout(this.healthTimer);
    this.restartTimer = undefined;
    this.healthTimer = undefined;
    this.nextRestartAtMs = undefined;
  }

  resetHealth(): void {
    this.health = this.spec.health ? 'unknown' : 'none';
    this.healthFailures = 0;
  }

  /** Up for its dependents: running, and healthy when it has a health check. */
  get up(): boolean {
    return this.state === 'running' && (this.health === 'none' || this.health === 'healthy');
  }

  status(): UnitStatus {
    return {
      name: this.name,
      class: this.spec.class,
      state: this.state,
      desired: this.ended ? 'stopped' : this.desired,
      image: this.asked?.plan.unit.image ?? this.spec.image,
      runningImage: this.imageDigest ? `${this.spec.image}@${this.imageDigest}` : this.spec.image,
      superpowered: this.spec.superpowered,
      containerId: this.containerId,
      namespace: this.namespace,
      pid: this.pid,
      restarts: this.restarts,
      exitCode: this.exitCode,
      lastError: this.lastError,
      health: this.health,
      startedAt: this.startedAtMs ? new Date(this.startedAtMs).toISOString() : undefined,
      nextRestartInMs: this.nextRestartAtMs ? Math.max(0, this.nextRestartAtMs - Date.now()) : undefined,
      selinux: this.selinux,
      events: this.events.toArray(),
    };
  }
}
