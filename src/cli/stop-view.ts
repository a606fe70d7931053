// Showing a stop while it waits (stop-all, stop, workloads stop): on a terminal, one line per unit redrawn in
// place (which signal, how long until SIGKILL); otherwise one plain line per step; JSON lines with
// `--output json`. Progress goes to stderr (JSON to stdout), so a command's own output stays as it was.
import { printJsonLine, type OutputFormat } from './output.js';
import { renderStopBoard, stopLabel, stopOutcome, stopProgressText, type TimedStopProgress } from './stop-progress.js';
import type { StopProgress } from '../wire/index.js';

/** Where the progress goes: process.stderr, or a stand-in. */
export interface ProgressOut {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

const REDRAW_MS = 100;
/** gRPC UNIMPLEMENTED: a berthd older than the progress RPCs. */
const UNIMPLEMENTED = 12;

/**
 * Follows `source` to its end, showing each step. Returns every message, or undefined when berthd does not
 * know the progress call (then `fallback`, the plain unary call, did the stop without progress).
 */
export async function followStop(
  source: AsyncIterable<StopProgress>,
  output: OutputFormat,
  fallback: () => Promise<unknown>,
  out: ProgressOut = process.stderr,
): Promise<StopProgress[] | undefined> {
  const tty = output !== 'json' && out.isTTY === true;
  const events: TimedStopProgress[] = [];
  let drawn = 0;
  const draw = (): void => {
    const lines = renderStopBoard(events, Date.now(), { columns: out.columns ?? 80, rows: (out.rows ?? 24) - 1 });
    // Back to the board's first line, rewrite it, clear whatever was below (the board may have shrunk).
    let text = drawn > 0 ? `\r\x1b[${drawn}A` : '';
    for (const line of lines) text += `\x1b[2K${line}\n`;
    out.write(`${text}\x1b[J`);
    drawn = lines.length;
  };
  // Countdowns move even when no message comes.
  const timer = tty ? setInterval(draw, REDRAW_MS) : undefined;
  try {
    for await (const p of source) {
      events.push({ progress: p, at: Date.now() });
      if (output === 'json') printJsonLine(p);
      else if (tty) draw();
      else out.write(`${stopProgressText(p)}\n`);
    }
  } catch (err) {
    if (events.length > 0 || (err as { code?: unknown }).code !== UNIMPLEMENTED) throw err;
    await fallback();
    return undefined;
  } finally {
    if (timer) clearInterval(timer);
    if (tty && events.length > 0) draw();
  }
  return events.map((e) => e.progress);
}

/** A stop that could not stop something fails the command, naming what and why. */
export function failIfAny(events: readonly StopProgress[] | undefined): void {
  const failed = stopOutcome(events ?? []).failed;
  if (failed.length > 0) throw new Error(`could not stop ${failed.map((p) => `${stopLabel(p)} (${p.message ?? 'unknown error'})`).join(', ')}`);
}
