/** Restart backoff: 1 s doubling to 5 min, ±20 % jitter, forgiven after a stable run. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Fraction of the delay added or removed at random, so crash-looping units spread out. */
  jitter: number;
  /** A unit that ran at least this long before exiting starts again from the initial delay. */
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 300_000, factor: 2, jitter: 0.2, stableAfterMs: 60_000 };

/** Delay before restart number `attempt` (0-based). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, Math.max(0, attempt)));
  const spread = base * policy.jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(policy.maxMs, Math.round(base + spread)));
}

/**
 * The restart attempt number (1-based) after a run of `ranMs`: back to 1 when the run was stable, so a unit
 * that crashes once a day always restarts after the initial delay.
 */
export function nextAttempt(previous: number, ranMs: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  return ranMs >= policy.stableAfterMs ? 1 : previous + 1;
}
