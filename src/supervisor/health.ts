import type { Readable } from 'node:stream';
import type { Runtime } from '../runtime/types.js';
import type { Runner } from './runner.js';
import type { UnitRecord } from './unit-record.js';

/**
 * Health checks: an exec in the unit's container every interval. Docker's rules: failures in the start
 * period do not count, a success counts at once; `retries` failures in a row make it unhealthy, and (like
 * Quadlet's HealthOnFailure=kill) an unhealthy unit is killed so its restart policy applies.
 */
export class HealthChecks {
  constructor(private readonly runtime: Runtime, private readonly runner: Runner) {}

  /** Start checking run `generation` of `u` (no-op without a health check). */
  schedule(u: UnitRecord, generation: number, delayMs = u.spec.health?.intervalMs): void {
    if (!u.spec.health || delayMs === undefined) return;
    u.healthTimer = setTimeout(() => void this.check(u, generation), delayMs);
  }

  private async check(u: UnitRecord, generation: number): Promise<void> {
    const health = u.spec.health;
    if (!health || generation !== u.generation || u.state !== 'running') return;
    let ok = false;
    let output = '';
    try {
      const h = await this.runtime.exec(u.containerId, health.command, { tty: false, stdin: false });
      // The check's own words (its last 200 characters) say why it failed: a rollback reports them.
      output = '';
      const keep = (c: Buffer): void => void (output = (output + c.toString()).slice(-200));
      h.stdout.on('data', keep);
      h.stderr?.on('data', keep);
      const code = await Promise.race([h.exited, new Promise<number>((r) => setTimeout(() => r(-1), health.timeoutMs).unref())]);
      if (code === -1) await h.kill().catch(() => undefined);
      // The exit can be seen before the check's last words are read from its FIFOs: wait for them (bounded).
      else await Promise.all([drained(h.stdout), drained(h.stderr)]);
      await h.cleanup().catch(() => undefined);
      ok = code === 0;
    } catch {
      ok = false;
    }
    if (generation !== u.generation || u.state !== 'running') return; // the run ended while we checked
    const before = u.health;
    const inGrace = Date.now() - (u.startedAtMs ?? 0) < health.startPeriodMs;
    if (ok) {
      u.healthFailures = 0;
      u.health = 'healthy';
    } else if (!inGrace && ++u.healthFailures >= health.retries) {
      u.health = 'unhealthy';
    }
    // The note goes out as a unit event, which also lets units waiting on this one re-check.
    if (u.health !== before) this.runner.note(u, `health: ${u.health}`);
    if (u.health === 'unhealthy') {
      // The kill's exit goes through the runner's exit handling, which reports this lastError as the reason.
      const said = output.trim().replace(/\s+/g, ' ');
      u.lastError = `health check failed ${u.healthFailures} times${said ? `: ${said}` : ''}`;
      await this.runtime.signal(u.containerId, 9).catch(() => undefined);
      return;
    }
    this.schedule(u, generation, health.intervalMs);
  }
}

/** How long a finished check's output may take to arrive after its exit. */
const DRAIN_MS = 500;

/** A stream's end (its writer closed), or DRAIN_MS, whichever comes first. */
function drained(s: Readable | undefined): Promise<void> {
  if (!s || s.readableEnded || s.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, DRAIN_MS);
    timer.unref();
    function done(): void {
      clearTimeout(timer);
      s?.off('end', done).off('close', done).off('error', done);
      resolve();
    }
    s.once('end', done).once('close', done).once('error', done);
  });
}
