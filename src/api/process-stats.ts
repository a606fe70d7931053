// berth.v1.Host/ProcessStats: berthd's own memory, open files and event-loop delay, read from inside the
// process (the heap and the loop delay cannot be seen from outside). Used by the soak benchmark.
import { readdir } from 'node:fs/promises';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { ProcessStats } from '../wire/types.js';

/** Period of the lateness probe: fine enough for a 20 ms target. */
const RESOLUTION_MS = 10;
/** With nobody asking for this long, the monitor stops (its timer would cost an idle berthd wake-ups). */
const IDLE_STOP_MS = 5 * 60_000;

const zeros = (): ProcessStats['loopDelay'] => ({ p50Ms: 0, p99Ms: 0, maxMs: 0, windowMs: 0, p99SinceStartMs: 0 });

/**
 * Event-loop delay over the window between two `take()` calls, and over all windows since the monitor
 * started: how late a 10 ms interval timer fires, in microseconds. (perf_hooks' monitorEventLoopDelay
 * measures the same, but its reset() forgets the previous tick, so a stall spanning a reset was lost, and
 * its histogram cannot be summed.) Started by the first call, not with the server: 100 wake-ups a second
 * are not for an idle daemon to pay.
 */
export class LoopDelayWindow {
  private timer: NodeJS.Timeout | undefined;
  private readonly window: RecordableHistogram = createHistogram();
  private readonly total: RecordableHistogram = createHistogram();
  private lastTick = 0;
  private since = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly idleStopMs = IDLE_STOP_MS) {}

  /** Whether the monitor's timer is on. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  private readonly tick = (): void => {
    const now = performance.now();
    const lateUs = Math.round((now - this.lastTick - RESOLUTION_MS) * 1000);
    this.lastTick = now;
    this.window.record(Math.max(1, lateUs)); // the histogram takes integers ≥ 1: 1 µs reads as on time
  };

  take(): ProcessStats['loopDelay'] {
    const now = performance.now();
    let out = zeros();
    if (this.timer) {
      const w = this.window;
      if (w.count > 0) {
        out = { p50Ms: w.percentile(50) / 1000, p99Ms: w.percentile(99) / 1000, maxMs: w.max / 1000, windowMs: 0, p99SinceStartMs: 0 };
        this.total.add(w);
        w.reset();
      }
      out.windowMs = Math.round(now - this.since);
      out.p99SinceStartMs = this.total.count > 0 ? this.total.percentile(99) / 1000 : 0;
    } else {
      this.lastTick = now;
      this.timer = setInterval(this.tick, RESOLUTION_MS);
      this.timer.unref();
    }
    this.since = now;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), this.idleStopMs);
    this.idleTimer.unref();
    return out;
  }

  stop(): void {
    clearTimeout(this.idleTimer);
    clearInterval(this.timer);
    this.timer = undefined;
    this.window.reset();
    this.total.reset();
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
