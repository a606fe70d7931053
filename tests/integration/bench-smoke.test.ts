import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBench } from '../../bench/run.js';
import { formatTable } from '../../bench/stats.js';
import { latencyChart } from '../../bench/chart.js';

// One iteration of every benchmark scenario, so `npm run bench` never rots. Targets are not asserted here
// (figures from a loaded CI machine mean little); that every scenario runs and yields numbers is.
test('benchmark suite smoke run: every scenario produces figures', { timeout: 600_000 }, async () => {
  const rows = await runBench({ iterations: 1, warmup: 0, smoke: true });
  assert.ok(rows.length >= 8, formatTable(rows));
  for (const r of rows) assert.ok(Number.isFinite(r.berth), `${r.scenario}: ${r.berth}`);
  const names = rows.map((r) => r.scenario).join('\n');
  for (const id of ['P1', 'P2', 'P4', 'P5', 'P6', 'P7', 'P8', 'R1']) assert.match(names, new RegExp(`^${id} `, 'm'));
  assert.match(names, /^update apply of a staged update: /m);
  assert.match(names, /^update apply from the repository: /m);
  assert.match(latencyChart(rows), /^<svg/);
});
