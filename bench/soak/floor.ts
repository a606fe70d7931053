// The machine's own share of event-loop delay: a Node process doing nothing but the same 10 ms lateness probe
// as berthd's (src/api/process-stats.ts), beside it for the whole load. On a 2-core machine shared with other
// work, a late timer is often the kernel not scheduling the process, not berthd being busy; this row tells
// the two apart in the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

const PROBE = `
const { createHistogram } = require('node:perf_hooks');
const h = createHistogram();
let last = performance.now();
setInterval(() => { const now = performance.now(); h.record(Math.max(1, Math.round((now - last - 10) * 1000))); last = now; }, 10);
const done = () => { process.stdout.write(JSON.stringify({ p99Ms: h.percentile(99) / 1000, maxMs: h.max / 1000 })); process.exit(0); };
process.on('SIGTERM', done);
process.on('SIGINT', done);
`;

export interface FloorProbe {
  /** Stops the probe (by its PID) and returns its figures; NaN when it was gone already. */
  stop(): Promise<{ p99Ms: number; maxMs: number }>;
}

export function startFloorProbe(): FloorProbe {
  const child: ChildProcess = spawn(process.execPath, ['-e', PROBE], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      try {
        return JSON.parse(out) as { p99Ms: number; maxMs: number };
      } catch {
        return { p99Ms: NaN, maxMs: NaN };
      }
    },
  };
}

/** utime + stime of a process, in ms (USER_HZ 100). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(stat[11]) + Number(stat[12])) * 10;
}
