// How a stop's progress reads, as pure functions of the progress messages berthd streams (and the time):
// plain lines for logs and pipes, and the per-unit board a terminal redraws in place while it waits.
import type { StopProgress } from '../wire/index.js';

/** A progress message and when it arrived (ms, the clock `now` is measured on). */
export interface TimedStopProgress {
  progress: StopProgress;
  at: number;
}

/** `10s`, `2.5s`, `0.4s`: whole seconds without decimals, otherwise one. */
export function seconds(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}

/** Workloads are marked: a unit and a workload may have the same name. */
export function stopLabel(p: Pick<StopProgress, 'kind' | 'name'>): string {
  return p.kind === 'workload' ? `workload ${p.name}` : p.name;
}

const exitPart = (p: StopProgress): string => (p.exitCode === undefined ? '' : ` (exit ${p.exitCode})`);

/** One line per step, for pipes and logs: `control: SIGTERM sent, SIGKILL in 10s`. */
export function stopProgressText(p: StopProgress): string {
  return `${stopLabel(p)}: ${stepText(p)}`;
}

function stepText(p: StopProgress): string {
  switch (p.phase) {
    case 'signal':
      return `${p.signal ?? 'SIGTERM'} sent, SIGKILL in ${seconds(p.timeoutMs ?? 0)}`;
    case 'kill':
      return `still running after ${seconds(p.elapsedMs)}, ${p.signal ?? 'SIGKILL'} sent`;
    case 'stopped':
      return `stopped${exitPart(p)} after ${seconds(p.elapsedMs)}`;
    case 'not-running':
      return `not running${p.message ? ` (${p.message})` : ''}`;
    case 'failed':
      return `stop failed after ${seconds(p.elapsedMs)}: ${p.message ?? 'unknown error'}`;
  }
}

/** The board's text for a unit's latest step, `now` ms after the clock `at` was read on. */
function liveText(t: TimedStopProgress, now: number): string {
  const p = t.progress;
  const since = now - t.at;
  if (p.phase === 'signal') {
    const left = (p.timeoutMs ?? 0) - since;
    return `${p.signal ?? 'SIGTERM'} sent ${seconds(since)} ago, ${left > 0 ? `SIGKILL in ${seconds(left)}` : 'SIGKILL due'}`;
  }
  if (p.phase === 'kill') return `${p.signal ?? 'SIGKILL'} sent after ${seconds(p.elapsedMs)}, waiting for the exit (${seconds(since)})`;
  return stepText(p);
}

const finished = (p: StopProgress): boolean => p.phase !== 'signal' && p.phase !== 'kill';

/**
 * The lines a terminal shows: one per unit, in the order they first reported, each with its latest step
 * (countdowns computed for `now`), names aligned, cut to `columns`. At most `rows` lines: when there are more
 * units, every one still stopping is kept (finished ones fill what room is left) and the rest are summed up
 * in a last line.
 */
export function renderStopBoard(events: readonly TimedStopProgress[], now: number, opts: { columns: number; rows: number }): string[] {
  const latest = new Map<string, TimedStopProgress>();
  for (const e of events) latest.set(`${e.progress.kind}\0${e.progress.name}`, e);
  let shown = [...latest.values()];
  let summary: string | undefined;
  const rows = Math.max(2, opts.rows);
  if (shown.length > rows) {
    const active = shown.filter((e) => !finished(e.progress));
    const done = shown.filter((e) => finished(e.progress));
    const room = rows - 1;
    const keep = [...active.slice(0, room), ...done.slice(0, Math.max(0, room - active.length))];
    const hidden = shown.filter((e) => !keep.includes(e));
    shown = shown.filter((e) => keep.includes(e));
    const hiddenActive = hidden.filter((e) => !finished(e.progress)).length;
    summary = `… ${hidden.length} more (${hidden.length - hiddenActive} done, ${hiddenActive} stopping)`;
  }
  const width = Math.max(0, ...shown.map((e) => stopLabel(e.progress).length));
  const cut = (line: string): string => (line.length > opts.columns - 1 ? `${line.slice(0, Math.max(1, opts.columns - 2))}…` : line);
  const lines = shown.map((e) => cut(`${stopLabel(e.progress).padEnd(width)}  ${liveText(e, now)}`));
  if (summary) lines.push(cut(summary));
  return lines;
}

/** What a stop ended with: counts for the closing line, and the units it could not stop. */
export function stopOutcome(events: readonly StopProgress[]): { units: number; workloads: number; failed: StopProgress[] } {
  const latest = new Map<string, StopProgress>();
  for (const p of events) latest.set(`${p.kind}\0${p.name}`, p);
  const all = [...latest.values()];
  return {
    units: all.filter((p) => p.kind === 'unit').length,
    workloads: all.filter((p) => p.kind === 'workload').length,
    failed: all.filter((p) => p.phase === 'failed'),
  };
}
