// Bounded retries with exponential backoff and full jitter, so many hosts pulling from one registry after
// an outage do not retry in lock-step.
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient, RegistryError } from './errors.js';

export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  signal?: AbortSignal;
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  random?: () => number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseMs: 200, maxMs: 5_000 };

/** Delay before attempt `attempt + 1`: uniform in [0, min(max, base·2^attempt)], or what the server asked. */
export function backoffDelay(attempt: number, opts: Pick<RetryOptions, 'baseMs' | 'maxMs' | 'random'>, serverMs?: number): number {
  if (serverMs !== undefined) return serverMs;
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** attempt);
  return Math.round((opts.random ?? Math.random)() * ceiling);
}

/** Run `fn` until it succeeds, fails permanently, or runs out of attempts (the last error is thrown). */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (opts.signal?.aborted || !isTransient(e) || attempt + 1 >= opts.attempts) throw e;
      const delay = backoffDelay(attempt, opts, e instanceof RegistryError ? e.retryAfterMs : undefined);
      opts.onRetry?.(attempt + 1, delay, e);
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : undefined);
    }
  }
}
