import type { Logger } from 'pino';
import { RuntimeUnavailableError, StartRefusedError } from '../runtime/errors.js';
import { backoffDelay, nextAttempt, type BackoffPolicy } from './backoff.js';
import { shouldRestart } from './restart-policy.js';
import type { Runner } from './runner.js';
import type { DaemonStatus } from './status.js';
import type { UnitRecord } from './unit-record.js';

/**
 * The restart wrapper around the runner (Talos wraps a Runner in a restart Runner): after a run ends or a
 * start fails, back off (exponential, jitter, forgiven after a stable run) or give up, per restart policy.
 * `retry` is the reconciler's activate: a restart is a start that still honours dependencies.
 */
export class RestartWrapper {
  constructor(
    private readonly runner: Runner,
    private readonly backoff: BackoffPolicy,
    private readonly logger: Logger,
    private readonly daemon: DaemonStatus,
    private readonly retry: (u: UnitRecord) => Promise<void>,
  ) {}

  /** A launch threw: classify why, then back off or give up. Runs inside the unit's chain. */
  startFailed(u: UnitRecord, e: unknown, startedAt: number): void {
    const message = e instanceof Error ? e.message : String(e);
    u.lastError = message;
    this.logger.warn({ unit: u.name, err: message }, 'start failed');
    if (e instanceof RuntimeUnavailableError) this.daemon.runtimeDown(message);
    if (e instanceof StartRefusedError) {
      // The host refuses this start (its spec, or a host path that changed under berth: a planted link stays
      // planted): retrying will not help. Failed, with the reason, and any container it created removed.
      this.runner.discardContainer(u);
      this.runner.fail(u, message);
      return;
    }
    this.runner.discardContainer(u);
    this.afterFailure(u, `start failed: ${message}`, -1, Date.now() - startedAt);
  }

  /** Decide between backing off and giving up, per restart policy. `exitCode` -1: the start failed. */
  afterFailure(u: UnitRecord, why: string, exitCode: number, ranMs: number): void {
    if (u.desired !== 'running') {
      this.runner.stopped(u, why);
      return;
    }
    if (!shouldRestart(u.spec.restart.policy, exitCode, false)) {
      // A start failure (exitCode -1) is not an ended run: a later reconcile may still start it, as before.
      u.ended = exitCode >= 0;
      if (exitCode === 0) this.runner.exited(u, why);
      else this.runner.fail(u, why);
      return;
    }
    u.attempt = nextAttempt(u.attempt, ranMs, this.backoff);
    const delay = backoffDelay(u.attempt - 1, this.backoff);
    u.nextRestartAtMs = Date.now() + delay;
    this.runner.backingOff(u, `${why}; restarting in ${(delay / 1000).toFixed(1)} s (attempt ${u.attempt})`);
    u.restartTimer = setTimeout(() => {
      u.restartTimer = undefined;
      u.nextRestartAtMs = undefined;
      void u.serialize(async () => {
        if (u.state !== 'backing-off' || u.desired !== 'running') return;
        u.restarts++;
        await this.retry(u);
      }).catch((e: unknown) => this.logger.error({ unit: u.name, err: String(e) }, 'restart failed'));
    }, delay);
  }

  /** The runtime is back: a unit backing off because it was gone tries again now, not after the delay. */
  async retryNow(u: UnitRecord): Promise<void> {
    u.clearTimers();
    await u.serialize(async () => {
      if (u.state !== 'backing-off') return;
      u.restarts++;
      await this.retry(u);
    });
  }
}
