import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeContext, type BenchOptions } from './context.js';
import { formatTable, type Row } from './stats.js';
import { latencyChart } from './chart.js';
import { clientStart } from './scenarios/p1-start.js';
import { berthdScenarios } from './scenarios/berthd.js';

const SCENARIOS: Record<string, (ctx: Awaited<ReturnType<typeof makeContext>>) => Promise<Row[]>> = {
  'p1-client': clientStart,
  berthd: berthdScenarios,
  rollout: async (ctx) => (await import('./scenarios/rollout.js')).rolloutScenario(ctx),
  workloads: async (ctx) => (await import('./scenarios/workloads.js')).workloadScenarios(ctx),
  pull: async (ctx) => (await import('./scenarios/pull.js')).pullScenario(ctx),
  cli: async (ctx) => (await import('./scenarios/cli.js')).cliScenarios(ctx),
  update: async (ctx) => (await import('./scenarios/update-apply.js')).updateApplyScenario(ctx),
};

export async function runBench(opts: BenchOptions, only?: string[]): Promise<Row[]> {
  const ctx = await makeContext(opts);
  const rows: Row[] = [];
  try {
    for (const [name, scenario] of Object.entries(SCENARIOS)) {
      if (only && !only.includes(name)) continue;
      rows.push(...(await scenario(ctx)));
    }
  } finally {
    await ctx.containerd.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '3' },
      smoke: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
      // Issue 20's soak instead of the scenarios (bench/soak/): `--soak [--soak-minutes N]`.
      soak: { type: 'boolean', default: false },
      'soak-minutes': { type: 'string', default: '20' },
    },
  });
  if (values.soak) return (await import('./soak/main.js')).soakMain(values['soak-minutes'], values.out);
  const smoke = values.smoke ?? false;
  const opts: BenchOptions = { iterations: smoke ? 1 : Number(values.iterations), warmup: smoke ? 0 : Number(values.warmup), smoke };
  const rows = await runBench(opts, values.only?.split(','));
  console.log(formatTable(rows));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const out = values.out ?? path.resolve(here, '../../bench/results/latest.json');
  if (!smoke) {
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, JSON.stringify({ date: new Date().toISOString(), options: opts, rows }, null, 2));
    const chart = path.join(path.dirname(out), 'latency.svg');
    await writeFile(chart, latencyChart(rows));
    console.log(`figures written to ${path.relative(process.cwd(), out)}, chart to ${path.relative(process.cwd(), chart)}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
