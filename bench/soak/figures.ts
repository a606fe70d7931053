// The soak's figures against issue 20's targets, as bench table rows: RSS at the end within 5 MB of RSS
// after the first minute, no fd growth after warm-up, event-loop delay p99 under 20 ms.
import { median, type Row } from '../stats.js';
import type { LoadCounts } from './load.js';
import type { Sample } from './sampler.js';

export const RSS_GROWTH_MB = 5;
/** Connections in flight at the moment of a sample (a status call, a workload's stdio FIFOs). */
export const FD_SLACK = 2;
export const LOOP_P99_MS = 20;

/** The sample the end is compared with: the one nearest 60 s, or the middle of a shorter run. */
export function warmSample(samples: Sample[]): Sample {
  const end = samples.at(-1)!.t;
  const at = Math.min(60, end / 2);
  return samples.reduce((best, s) => (Math.abs(s.t - at) < Math.abs(best.t - at) ? s : best), samples[0]!);
}

export interface LoadRun {
  samples: Sample[];
  counts: LoadCounts;
  seconds: number;
  berthdCpuPct: number;
  floorDelay: { p99Ms: number; maxMs: number };
}

export function soakRows({ samples, counts, seconds, berthdCpuPct, floorDelay }: LoadRun, fds: { before: number; after: number }): Row[] {
  if (samples.length < 2) throw new Error(`soak: ${samples.length} samples, need at least 2`);
  const warm = warmSample(samples);
  const end = samples.at(-1)!;
  const after = `after ${Math.round(warm.t)} s`;
  // Windows that saw load (the last one may be a fraction of a period, cut by the end of the run).
  const windows = samples.filter((s) => s.loopP99Ms > 0);
  const worstP99 = Math.max(...windows.map((s) => s.loopP99Ms));
  const rate = (n: number): number => n / seconds;
  const info = (scenario: string, berth: number, unit: string): Row => ({ scenario, berth, unit, target: 'informational', met: true });
  return [
    { scenario: 'Soak RSS at the end vs after the first minute', berth: end.rssMb, baseline: warm.rssMb, baselineName: `RSS ${after}`, unit: 'MB', target: `≤ +${RSS_GROWTH_MB} MB`, met: end.rssMb <= warm.rssMb + RSS_GROWTH_MB, samples: { berth: samples.map((s) => s.rssMb) } },
    info('Soak RSS max', Math.max(...samples.map((s) => s.rssMb)), 'MB'),
    { scenario: 'Soak heap used at the end vs after the first minute', berth: end.heapUsedMb, baseline: warm.heapUsedMb, baselineName: `heap ${after}`, unit: 'MB', target: 'informational', met: true },
    // Quiet (load stopped, settled) before and after: fds open at the instant of a sample under load are not growth.
    { scenario: 'Soak open fds, quiet: after the load vs before it', berth: fds.after, baseline: fds.before, baselineName: 'before the load', unit: 'fds', target: `≤ +${FD_SLACK}`, met: fds.after <= fds.before + FD_SLACK },
    { scenario: 'Soak open fds under load: at the end vs after the first minute', berth: end.fds, baseline: warm.fds, baselineName: `fds ${after}`, unit: 'fds', target: 'informational', met: true },
    { scenario: 'Soak event-loop delay p99 over the whole load', berth: end.loopP99SinceStartMs, unit: 'ms', target: `< ${LOOP_P99_MS} ms`, met: end.loopP99SinceStartMs < LOOP_P99_MS, samples: { berth: windows.map((s) => s.loopP99Ms) } },
    info('Soak event-loop delay p99, worst 5 s window', worstP99, 'ms'),
    info('Soak event-loop delay p99, median 5 s window', median(windows.map((s) => s.loopP99Ms)), 'ms'),
    info('Soak event-loop delay max', Math.max(...samples.map((s) => s.loopMaxMs)), 'ms'),
    // A late timer on a busy shared machine is often the scheduler, not berthd: the same probe, idle, beside it.
    info('Soak event-loop delay p99 of an idle Node process beside it', floorDelay.p99Ms, 'ms'),
    info('Soak berthd CPU during the load (% of one core)', berthdCpuPct, '%'),
    info('Soak load: status calls (4 clients)', rate(counts.statusCalls), '/s'),
    info('Soak load: log lines followed (2 followers)', counts.logLines, 'lines'),
    info('Soak load: admin toggles (every 10 s)', counts.adminToggles, 'sets'),
    info('Soak load: workloads run and removed', counts.workloadsRun, 'runs'),
    info('Soak load: crash-loop restarts', counts.crashRestarts, 'restarts'),
    { scenario: 'Soak load: failed calls', berth: counts.errors, unit: 'errors', target: '0', met: counts.errors === 0 },
  ];
}
