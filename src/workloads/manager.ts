// The workload API's logic: requests are checked against policy, given an MCS pair, persisted, and handed
// to a second Supervisor (the same state machine as host units) as class "workload" units.
import type { Logger } from 'pino';
import { allocateMcs } from '../ocispec/index.js';
import { hostPathFacts } from '../runtime/host-paths.js';
import { MOUNTS_MAX } from '../units/limits.js';
import { mcsLevel } from '../ocispec/selinux.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { LogLine, StopObserver, UnitStatus } from '../supervisor/types.js';
import type { UnitSpec } from '../units/types.js';
import type { SpecPlan } from '../ocispec/plan.js';
import { WorkloadExistsError, WorkloadNotFoundError, WorkloadValidationError } from './errors.js';
import { checkWorkload, formatViolations, type WorkloadPolicy } from './policy.js';
import type { WorkloadStore } from './store.js';
import type { WorkloadBackendName, WorkloadRecord, WorkloadRequest } from './types.js';


export interface WorkloadInfo {
  request: WorkloadRequest;
  /** `s0:cX,cY`. */
  mcs: string;
  runtime: WorkloadBackendName;
  status: UnitStatus;
}

export interface WorkloadManagerDeps {
  store: WorkloadStore;
  supervisor: Supervisor;
  /** The one spec planner (ocispec/context.ts), with the workloads' settings and MCS pairs. */
  plan(unit: UnitSpec): SpecPlan;
  policy(): WorkloadPolicy;
  runtime: WorkloadBackendName;
  namespace: string;
  logger: Logger;
  /** The workloads' log store: a removed workload's logs go with it. */
  logs?: { remove(name: string): Promise<void> };
  random?: () => number;
}

export class WorkloadManager {
  /** Persisted workloads the current policy refuses: not run, reported with the reason. */
  private readonly refused = new Map<string, string>();
  private started = false;
  /** The workload specs last handed to the supervisor. */
  private applied: UnitSpec[] = [];
  private readonly watch = new AbortController();
  /**
   * Bumped, synchronously, by every run/start of a workload: an "it ended" report that predates the bump must
   * not persist "stopped" over a start that came after it.
   */
  private readonly startEpochs = new Map<string, number>();

  constructor(private readonly deps: WorkloadManagerDeps) {}

  mcsOf(name: string): [number, number] | undefined {
    return this.deps.store.get(name)?.mcs;
  }

  private specs(): UnitSpec[] {
    const specs: UnitSpec[] = [];
    this.refused.clear();
    for (const r of this.deps.store.all()) {
      const checked = checkWorkload(r.request, this.deps.policy());
      if (checked.ok) specs.push(checked.unit);
      else {
        const why = `refused by the current workload policy: ${formatViolations(checked.violations)}`;
        this.refused.set(r.request.name, why);
        this.deps.logger.error({ workload: r.request.name, error: why }, 'persisted workload not started');
      }
    }
    return specs;
  }

  private async apply(): Promise<void> {
    this.applied = this.specs();
    await this.plan(this.applied);
  }

  private plan(specs: readonly UnitSpec[]): Promise<void> {
    return this.deps.supervisor.setDesired(specs.map((spec) => ({ plan: this.deps.plan(spec), want: this.deps.store.get(spec.name)?.desired ?? 'stopped' })));
  }

  /**
   * A settings commit: the same workloads planned again in the new context (SELinux mode, allow-list,
   * capability cap), used from each one's next start. Policy is not re-checked here: a running workload
   * is not stopped by a commit, as before plans existed; the next run/remove/start-up re-checks it.
   */
  async settingsChanged(): Promise<void> {
    if (this.started) await this.plan(this.applied);
  }

  /** Load the persisted workloads, adopt what still runs, start the rest. */
  async start(): Promise<void> {
    await this.apply();
    await this.deps.supervisor.run();
    this.started = true;
    void this.persistEnded();
  }

  close(): void {
    this.watch.abort();
    this.deps.supervisor.close();
  }

  private bumpStartEpoch(name: string): void {
    this.startEpochs.set(name, (this.startEpochs.get(name) ?? 0) + 1);
  }

  /**
   * A workload whose run ended for good (restart never; on-failure after exit 0) is persisted as desired
   * "stopped", so a berthd restart does not run it again either; `workloads start` runs it again.
   */
  private async persistEnded(): Promise<void> {
    const ended = (name: string): boolean => this.deps.supervisor.get(name)?.desired === 'stopped';
    try {
      for await (const e of this.deps.supervisor.events(this.watch.signal)) {
        if (e.kind !== 'unit' || (e.state !== 'exited' && e.state !== 'failed') || !ended(e.unit)) continue;
        const name = e.unit;
        const epoch = this.startEpochs.get(name) ?? 0;
        await this.deps.store.update((records) => {
          const r = records.get(name);
          // Checked again when the write's turn comes: a start or a new same-name workload may have come first.
          if (!r || r.desired !== 'running' || (this.startEpochs.get(name) ?? 0) !== epoch || !ended(name)) return;
          records.set(name, { ...r, desired: 'stopped' });
        }).catch((err: unknown) => this.deps.logger.warn({ workload: name, err: String(err) }, 'could not persist that the workload ended'));
      }
    } catch (err) {
      if (!this.watch.signal.aborted) this.deps.logger.error({ err: String(err) }, 'workload event watch ended');
    }
  }

  async run(request: WorkloadRequest): Promise<WorkloadInfo> {
    const policy = this.deps.policy();
    // Bind sources as the host resolves them (symlinks, ".."), not as written; a request's mounts are the
    // unit's mounts, index for index.
    // Only for a request within the mount limit: 30,000 sources resolved on the host before the count is
    // refused kept berthd's event loop and thread pool busy for seconds (chaos R7 oversized requests).
    const resolvable = request.mounts.length > 0 && request.mounts.length <= MOUNTS_MAX;
    const facts = resolvable ? await hostPathFacts(new Map(request.mounts.map((m, i) => [i, m.source])), policy) : undefined;
    const checked = checkWorkload(request, policy, facts);
    if (!checked.ok) throw new WorkloadValidationError(checked.violations[0]?.field ?? '', formatViolations(checked.violations));
    if (this.deps.store.get(request.name)) throw new WorkloadExistsError(request.name);
    this.bumpStartEpoch(request.name);
    await this.deps.store.update((records) => {
      if (records.has(request.name)) throw new WorkloadExistsError(request.name);
      const mcs = allocateMcs(this.deps.store.usedMcs(), this.deps.random ?? Math.random);
      records.set(request.name, { request, mcs, desired: 'running', createdAt: new Date().toISOString() });
    });
    // A new workload starts with an empty log, even if a crash kept an earlier same-name workload's files.
    await this.deps.logs?.remove(request.name);
    await this.apply();
    return this.info(this.record(request.name));
  }

  private record(name: string): WorkloadRecord {
    const r = this.deps.store.get(name);
    if (!r) throw new WorkloadNotFoundError(name);
    return r;
  }

  private status(r: WorkloadRecord): UnitStatus {
    const live = this.deps.supervisor.get(r.request.name);
    if (live) return live;
    const refused = this.refused.get(r.request.name);
    return {
      name: r.request.name, class: 'workload', state: refused ? 'failed' : 'waiting', desired: r.desired, image: r.request.image,
      superpowered: false, containerId: r.request.name, namespace: this.deps.namespace, pid: 0, restarts: 0, health: 'none', events: [],
      ...(refused ? { lastError: refused } : this.started ? {} : { lastError: 'berthd is starting' }),
    };
  }

  private info(r: WorkloadRecord): WorkloadInfo {
    return { request: r.request, mcs: mcsLevel(r.mcs), runtime: this.deps.runtime, status: this.status(r) };
  }

  list(): WorkloadInfo[] {
    return this.deps.store.all().map((r) => this.info(r));
  }

  get(name: string): WorkloadInfo {
    return this.info(this.record(name));
  }

  private async setDesired(name: string, desired: 'running' | 'stopped'): Promise<void> {
    const r = this.record(name);
    if (r.desired === desired) return;
    await this.deps.store.update((records) => void records.set(name, { ...r, desired }));
  }

  async stop(name: string, onProgress?: StopObserver): Promise<WorkloadInfo> {
    await this.setDesired(name, 'stopped');
    if (this.deps.supervisor.get(name)) await this.deps.supervisor.stop(name, onProgress);
    return this.get(name);
  }

  /**
   * `workloads stop` for every workload at once (berthctl stop-all): each is persisted as stopped first, so
   * neither a restart policy nor a berthd restart runs it again until `workloads start`; then every
   * container of the workloads' engine is removed.
   */
  async stopAll(onProgress?: StopObserver): Promise<void> {
    if (this.deps.store.all().some((r) => r.desired !== 'stopped')) {
      await this.deps.store.update((records) => {
        for (const [name, r] of records) if (r.desired !== 'stopped') records.set(name, { ...r, desired: 'stopped' });
      });
    }
    await this.deps.supervisor.stopAll(onProgress);
  }

  async startWorkload(name: string): Promise<WorkloadInfo> {
    this.bumpStartEpoch(name);
    await this.setDesired(name, 'running');
    if (this.deps.supervisor.get(name)) await this.deps.supervisor.start(name);
    return this.get(name);
  }

  async remove(name: string): Promise<void> {
    this.record(name);
    await this.deps.store.update((records) => void records.delete(name));
    await this.apply();
    // After apply: the container is gone, so no more of its output can arrive.
    await this.deps.logs?.remove(name);
  }

  logs(name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine> {
    this.record(name);
    return this.deps.supervisor.logs(name, opts);
  }
}
