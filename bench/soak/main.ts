// `npm run bench -- --soak [--soak-minutes N]`: the soak on the bench's private containerd, its table
// printed, bench/results/soak.json and soak.svg written (for any run length; the README quotes the 20-min one).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeContext } from '../context.js';
import { formatTable } from '../stats.js';
import { soakChart } from './chart.js';
import { runSoak } from './soak.js';

function minutesOf(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n > 24 * 60) throw new Error(`--soak-minutes: expected a number of minutes > 0 and ≤ 1440, got ${JSON.stringify(text)}`);
  return n;
}

export async function soakMain(minutesText: string | undefined, out?: string): Promise<void> {
  const minutes = minutesOf(minutesText ?? '20');
  // Ctrl-C ends the load early; everything started is still stopped and the figures so far written.
  const ac = new AbortController();
  const interrupt = (): void => {
    console.error('soak: interrupted, stopping the load and everything it started');
    ac.abort();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const ctx = await makeContext({ iterations: 1, warmup: 0, smoke: false });
  let result;
  try {
    console.error(`soak: ${minutes} min of mixed load on berthd, sampled every 5 s`);
    result = await runSoak(ctx, { durationMs: minutes * 60_000, signal: ac.signal, log: (l) => console.error(l) });
  } finally {
    await ctx.containerd.stop();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  console.log(formatTable(result.rows));
  if (result.counts.firstErrors.length) console.log(`first errors:\n  ${result.counts.firstErrors.join('\n  ')}`);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const json = out ?? path.resolve(here, '../../../bench/results/soak.json');
  await mkdir(path.dirname(json), { recursive: true });
  const { rows, ...rest } = result;
  await writeFile(json, JSON.stringify({ date: new Date().toISOString(), minutes, ...rest, rows: rows.map(({ samples: _s, ...r }) => r) }, null, 2));
  const svg = path.join(path.dirname(json), 'soak.svg');
  const title = `berthd soak: ${(result.seconds / 60).toFixed(1)} min of mixed load${result.interrupted ? ' (interrupted)' : ''}`;
  await writeFile(svg, soakChart(result.samples, result.fds, title));
  console.log(`figures written to ${path.relative(process.cwd(), json)}, chart to ${path.relative(process.cwd(), svg)}`);
}
