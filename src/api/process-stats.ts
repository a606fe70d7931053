// berth.v1.Host/ProcessStats: berthd's own memory, open files and event-loop delay, read from inside the
// process (the heap and the loop delay cannot be seen from outside). Used by the soak benchmark.
import { readdir } from 'node:fs/promises';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { ProcessStats } from '../wire/types.js';

/** Sampling period of the loop-delay timer: fine enough for a 20 ms target. */
const RESOLUTION_MS = 10;
/** With nobody asking for this long, the monitor stops (its timer would cost an idle berthd wake-ups). */
const IDLE_STOP_MS = 5 * 60_000;

const nsToMs = (ns: number): number => ns / 1e6;

/**
 * Event-loop delay over the window between two `take()` calls. Started by the first call, not with the
 * server: the histogram's timer wakes the loop every 10 ms, which an idle daemon should not pay for.
 */
export class LoopDelayWindow {
  private histogram: IntervalHistogram | undefined;
  private since = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly idleStopMs = IDLE_STOP_MS) {}

  /** Whether the monitor's timer is on. */
  get running(): boolean {
    return this.histogram !== undefined;
  }

  take(): ProcessStats['loopDelay'] {
    const now = performance.now();
    let window = { p50Ms: 0, p99Ms: 0, maxMs: 0, windowMs: 0 };
    if (this.histogram) {
      const h = this.histogram;
      // An empty histogram (no tick yet in a very short window) reports NaN/huge min: report zeros instead.
      if (h.count > 0) window = { p50Ms: nsToMs(h.percentile(50)), p99Ms: nsToMs(h.percentile(99)), maxMs: nsToMs(h.max), windowMs: 0 };
      window.windowMs = Math.round(now - this.since);
      h.reset();
    } else {
      this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      this.histogram.enable();
    }
    this.since = now;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), this.idleStopMs);
    this.idleTimer.unref();
    return window;
  }

  stop(): void {
    clearTimeout(this.idleTimer);
    this.histogram?.disable();
    this.histogram = undefined;
  }
}

/** Open file descriptors of this process (the readdir's own fd included, as any count from inside would). */
async function openFds(): Promise<number> {
  try {
    return (await readdir('/proc/self/fd')).length;
  } catch {
    return 0; // not Linux: the field is documented as a count of /proc/self/fd
  }
}

export async function processStats(loop: LoopDelayWindow): Promise<ProcessStats> {
  const fds = await openFds();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, openFds: fds, loopDelay: loop.take() };
}
