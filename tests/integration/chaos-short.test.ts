// The chaos suite (bench/chaos, `npm run chaos`) in its short mode, so it never rots: every scenario runs
// with small counts and must report zero failures. The full mode (release checks) is `npm run chaos`.
// CHAOS_SEED replays a schedule; the seed is printed either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatChaosTable, runChaos } from '../../bench/chaos/run.js';

test('chaos suite, short mode: every scenario runs and none fails', { timeout: 20 * 60_000 }, async (t) => {
  const seed = Number(process.env['CHAOS_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  const report = await runChaos({ mode: 'short', seed, log: (s) => t.diagnostic(s) });
  for (const line of formatChaosTable(report.rows).split('\n')) t.diagnostic(line);
  t.diagnostic(`seed ${seed} (CHAOS_SEED to replay), ${(report.durationMs / 1000).toFixed(0)} s`);
  for (const r of report.rows) assert.ok(r.runs > 0, `${r.scenario} ran nothing`);
  const failing = report.rows.filter((r) => r.failures > 0).map((r) => `${r.scenario}: ${r.failureDetails.join(' | ')}`);
  assert.deepEqual(failing, [], `seed ${seed}`);
});
