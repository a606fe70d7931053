// Time limits of one pull. A registry is untrusted: it may answer slowly on purpose (a byte every few
// seconds never trips a socket idle timeout), so a pull has an overall deadline and a stall timeout, and it
// is cancelled when its caller goes away. Every HTTP request of the pull reports to one PullWatch, which
// aborts the pull's signal — closing its connections — when a limit is hit.
import { timedOut } from './errors.js';

/** What the HTTP transport tells the watch: a request started (the returned function ends it), bytes came in. */
export interface TransferMeter {
  begin(): () => void;
  bytes(n: number): void;
}

/**
 * Fewer bytes than this within the stall window (and no response completed) is a stall. Counting bytes
 * rather than "any byte" is what catches a drip: one byte every 5 s is activity but not progress.
 */
export const STALL_MIN_BYTES = 1024;

export const DEFAULT_PULL_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_PULL_STALL_TIMEOUT_MS = 30_000;

export interface PullWatchOptions {
  /** The pull's reference, for messages. */
  ref: string;
  timeoutMs?: number;
  stallTimeoutMs?: number;
  /** The caller's cancellation (a unit stopped, an API client gone). */
  signal?: AbortSignal;
}

/** `30m`, `45s`, `250ms`: how the settings spell durations, so messages match what the operator set. */
export function formatDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export class PullWatch implements TransferMeter {
  private readonly controller = new AbortController();
  private readonly timeoutMs: number;
  private readonly stallMs: number;
  private readonly deadline: NodeJS.Timeout;
  private readonly ticker: NodeJS.Timeout;
  private readonly onCallerAbort: () => void;
  /** Requests in flight (headers awaited or body being read). The stall clock runs only while > 0. */
  private active = 0;
  /** Outside network phases (unpacking) the stall clock is off whatever `active` says. */
  private network = true;
  private markAt = Date.now();
  private sinceMark = 0;

  constructor(private readonly opts: PullWatchOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
    this.stallMs = opts.stallTimeoutMs ?? DEFAULT_PULL_STALL_TIMEOUT_MS;
    this.deadline = setTimeout(() => this.fail(timedOut(`pull of ${opts.ref} timed out after ${formatDuration(this.timeoutMs)} (images.pull-timeout)`)), this.timeoutMs);
    // A quarter of the window: a stall is noticed at most 25 % late, and a 30 s window costs 8 wake-ups a minute.
    this.ticker = setInterval(() => this.check(), Math.min(Math.max(Math.floor(this.stallMs / 4), 5), 1000));
    this.deadline.unref();
    this.ticker.unref();
    this.onCallerAbort = () => this.controller.abort(opts.signal?.reason);
    if (opts.signal?.aborted) this.onCallerAbort();
    else opts.signal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  /** Aborted when the caller cancels or a limit is hit; give it to every request of the pull. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  begin(): () => void {
    if (this.active++ === 0) this.mark();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.active--;
      // A completed response is progress, however small (a manifest, a token).
      this.mark();
    };
  }

  bytes(n: number): void {
    this.sinceMark += n;
    if (this.sinceMark >= STALL_MIN_BYTES) this.mark();
  }

  /** Network phases (resolve, fetch) versus local ones (unpack), where silence from the registry is normal. */
  setNetwork(on: boolean): void {
    this.network = on;
    this.mark();
  }

  /**
   * The error to report for a failure `e` of the pull: when this watch aborted it, the reason (a clear
   * "timed out"/"stalled"/"cancelled") rather than whatever the interrupted request threw.
   */
  explain(e: unknown): unknown {
    const signal = this.controller.signal;
    if (!signal.aborted) return e;
    const reason: unknown = signal.reason;
    if (reason instanceof Error && reason.name !== 'AbortError') return reason;
    return Object.assign(new Error(`pull of ${this.opts.ref} cancelled`), { name: 'AbortError', code: 'ABORT_ERR' });
  }

  /** End the pull for a reason of its own (a layer that does not unpack): its requests are aborted. */
  abort(reason: unknown): void {
    this.fail(reason instanceof Error ? reason : new Error(String(reason)));
  }

  close(): void {
    clearTimeout(this.deadline);
    clearInterval(this.ticker);
    this.opts.signal?.removeEventListener('abort', this.onCallerAbort);
  }

  private mark(): void {
    this.markAt = Date.now();
    this.sinceMark = 0;
  }

  private check(): void {
    if (this.active === 0 || !this.network) {
      this.mark();
      return;
    }
    if (Date.now() - this.markAt < this.stallMs) return;
    const window = formatDuration(this.stallMs);
    const got = this.sinceMark === 0 ? `no bytes for ${window}` : `only ${this.sinceMark} bytes in ${window}`;
    this.fail(timedOut(`pull of ${this.opts.ref} stalled: ${got} (images.pull-stall-timeout)`));
  }

  private fail(e: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(e);
    this.close();
  }
}
