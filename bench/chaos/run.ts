// `npm run chaos`: the reliability suite. Starts its own containerd, runs each scenario against real
// berthd processes, prints one table and writes it as JSON (bench/results/chaos.json in full mode).
//
//   node dist/bench/chaos/run.js [--short] [--only r1,r3] [--seed N] [--out FILE]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeEnv, makeEnv, type ChaosEnv } from './env.js';
import type { Mode, Row } from './lib.js';
import { r1KillBerthd } from './r1-kill-berthd.js';
import { r2ContainerdRestarts } from './r2-containerd.js';
import { r3CrashLoops } from './r3-crash-loops.js';
import { r4Fuzz } from './r4-fuzz.js';
import { r5CrashConsistency } from './r5-crash-consistency.js';
import { r6Abuse } from './r6-abuse.js';
import { r7Secrets } from './r7-secrets.js';
import { r7Archives } from './r7-archives.js';
import { r7Requests } from './r7-requests.js';
import { r7Paths } from './r7-paths.js';
import { r7Registry } from './r7-registry.js';
import { diskFull } from './disk-full.js';

type Scenario = (env: ChaosEnv) => Promise<Row[]>;
export const SCENARIOS: Record<string, Scenario> = {
  r1: r1KillBerthd,
  r2: r2ContainerdRestarts,
  r3: r3CrashLoops,
  r4: r4Fuzz,
  r5: r5CrashConsistency,
  r6: r6Abuse,
  r7secrets: r7Secrets,
  r7archives: r7Archives,
  r7requests: r7Requests,
  r7paths: r7Paths,
  r7registry: r7Registry,
  disk: diskFull,
};

export interface ChaosReport {
  date: string;
  mode: Mode;
  seed: number;
  durationMs: number;
  rows: Row[];
}

export async function runChaos(opts: { mode: Mode; seed?: number; only?: string[]; log?: (s: string) => void }): Promise<ChaosReport> {
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = opts.log ?? ((s: string) => console.error(s));
  const started = Date.now();
  const env = await makeEnv(opts.mode, seed);
  const rows: Row[] = [];
  try {
    for (const [name, scenario] of Object.entries(SCENARIOS)) {
      if (opts.only && !opts.only.includes(name)) continue;
      const t0 = Date.now();
      log(`chaos: ${name} (${opts.mode}, seed ${seed})…`);
      try {
        rows.push(...(await scenario(env)));
      } catch (e) {
        rows.push({ scenario: name, runs: 1, failures: 1, failureDetails: [`scenario crashed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`] });
      }
      log(`chaos: ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await closeEnv(env);
  }
  return { date: new Date().toISOString(), mode: opts.mode, seed, durationMs: Date.now() - started, rows };
}

const ORDER = ['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'Disk'];
const order = (scenario: string): number => ORDER.findIndex((p) => scenario.startsWith(p));

export function formatChaosTable(rows: Row[]): string {
  const header = ['scenario', 'runs', 'failures', 'worst recovery'];
  const lines = rows.map((r) => [r.scenario, String(r.runs), String(r.failures), r.worstRecoveryMs === undefined ? '-' : `${(r.worstRecoveryMs / 1000).toFixed(2)} s`]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [row(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(row)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      short: { type: 'boolean', default: false },
      only: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      // With --only: replace those scenarios' rows in the existing full-mode JSON (a re-run after a fix).
      merge: { type: 'boolean', default: false },
    },
  });
  const mode: Mode = values.short ? 'short' : 'full';
  const report = await runChaos({ mode, ...(values.seed ? { seed: Number(values.seed) } : {}), ...(values.only ? { only: values.only.split(',') } : {}) });
  console.log(formatChaosTable(report.rows));
  for (const r of report.rows) {
    if (r.note) console.log(`  ${r.scenario}: ${r.note}`);
    for (const d of r.failureDetails) console.log(`  FAIL ${r.scenario}: ${d}`);
  }
  console.log(`mode ${mode}, seed ${report.seed} (--seed to replay), ${(report.durationMs / 60_000).toFixed(1)} min`);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const out = values.out ?? (mode === 'full' && !values.only ? path.resolve(here, '../../../bench/results/chaos.json') : undefined);
  const full = path.resolve(here, '../../../bench/results/chaos.json');
  if (values.merge && values.only && mode === 'full') {
    const old = JSON.parse(await readFile(full, 'utf8')) as ChaosReport & { reruns?: unknown[] };
    // By exact row name: several scenarios share a prefix ("R7 security: …"), so a prefix would drop the
    // rows of scenarios that were not re-run.
    const names = new Set(report.rows.map((r) => r.scenario));
    const rows = old.rows.filter((r) => !names.has(r.scenario));
    const merged = { ...old, rows: [...rows, ...report.rows].sort((a, b) => order(a.scenario) - order(b.scenario)), reruns: [...(old.reruns ?? []), { date: report.date, seed: report.seed, only: values.only, durationMs: report.durationMs }] };
    await writeFile(full, `${JSON.stringify(merged, null, 2)}\n`);
    console.log(formatChaosTable(merged.rows));
    console.log(`merged into ${path.relative(process.cwd(), full)}`);
  } else if (out) {
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`written to ${path.relative(process.cwd(), out)}`);
  }
  process.exitCode = report.rows.some((r) => r.failures > 0) ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
