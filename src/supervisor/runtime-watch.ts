import type { SupervisorDeps } from './deps.js';
import type { Reconciler } from './reconciler.js';
import type { RestartWrapper } from './restart.js';
import type { Runner } from './runner.js';
import type { DaemonStatus } from './status.js';
import type { UnitRecord } from './unit-record.js';

/**
 * The runtime's event stream (never polling): exits and OOM kills reach the runner; a broken stream marks
 * the runtime down; a `resync` (it answers again) re-checks every unit and finishes what the outage cut off.
 */
export class RuntimeWatch {
  private readonly abort = new AbortController();

  constructor(
    private readonly deps: SupervisorDeps,
    private readonly daemon: DaemonStatus,
    private readonly reconciler: Reconciler,
    private readonly runner: Runner,
    private readonly restart: RestartWrapper,
  ) {}

  async run(): Promise<void> {
    try {
      for await (const ev of this.deps.runtime.watch(this.abort.signal)) {
        if (ev.kind === 'disconnected') {
          this.daemon.runtimeDown(ev.reason);
          this.deps.onRuntimeDisconnected?.();
        } else if (ev.kind === 'resync') await this.resync();
        else if (ev.kind === 'oom') {
          const u = this.byContainer(ev.id);
          if (u) u.oomKilled = true;
        } else if (ev.kind === 'exit') {
          const u = this.byContainer(ev.id);
          if (u && u.state === 'running' && u.task) {
            // The event may be late news of the previous run of the same container id (a rollout puts the
            // previous image back at once): it counts only if this run's task is really gone.
            const generation = u.armedGeneration;
            // The wait already reported this run's exit (its handling may not have run yet): not news.
            if (u.generation !== generation) continue;
            const pid = u.pid;
            const t = await this.deps.runtime.taskState(ev.id).catch(() => undefined);
            if (t?.status === 'running' && t.pid === pid) continue;
            // Handled meanwhile (the wait saw it first, and the next run may be starting): not news.
            if (u.generation !== generation || u.pid !== pid || u.state !== 'running') continue;
            this.runner.exitObserved(u, generation, { exitCode: t?.exitStatus ?? ev.exitCode, at: new Date() });
          }
        }
      }
    } catch (e) {
      if (!this.abort.signal.aborted) this.deps.logger.error({ err: String(e) }, 'runtime event stream ended');
    }
  }

  close(): void {
    this.abort.abort();
  }

  private byContainer(id: string): UnitRecord | undefined {
    for (const u of this.reconciler.units.values()) if (u.containerId === id) return u;
    return undefined;
  }

  /** After the runtime comes back: re-check every running unit, re-arm waits, restart what died. */
  private async resync(): Promise<void> {
    this.daemon.runtimeUp = true;
    this.daemon.announce('containerd connected; reconciling');
    const { runtime } = this.deps;
    await Promise.all([...this.reconciler.units.values()].map(async (u) => {
      if (u.state === 'running' && u.task) {
        const generation = u.generation;
        // Its exit was already reported and is being handled: nothing to re-check.
        if (generation !== u.armedGeneration) return;
        const t = await runtime.taskState(u.containerId).catch(() => undefined);
        if (t?.status === 'running' && t.pid === u.pid) {
          const task = await runtime.rewait(u.containerId).catch(() => undefined);
          if (task && generation === u.generation) {
            this.runner.rearm(u, generation, task);
            return;
          }
        }
        this.runner.exitObserved(u, generation, { exitCode: t?.exitStatus ?? 255, at: new Date() });
      } else if (u.state === 'failed' && u.desired === 'stopped') {
        // A stop that failed because the runtime was gone left its container (and maybe task) behind: finish
        // it now, or the container leaks for good (found by the chaos suite, R2: containerd killed mid-stop).
        await u.serialize(() => this.runner.stop(u, 'stopped (retried after the runtime came back)'));
      } else if (u.state === 'backing-off' && u.desired === 'running') {
        // It was failing because the runtime was gone: try again now rather than after the backoff.
        await this.restart.retryNow(u);
      }
    }));
    await this.removeLeftovers();
    this.daemon.announce(this.reconciler.summary());
  }

  /**
   * A stopped unit's container whose removal failed while the runtime was gone (a start that died half-way
   * in Tasks.Create, then a stop, both with containerd down) would otherwise leak for good: remove it now
   * (found by the chaos suite, R2). Removing a container changes no unit state, so this is not the runner's.
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
}
