// A 12-second soak (issue 20's `npm run bench -- --soak` runs 20 minutes), so the soak never rots: every
// driver of the mixed load ran, berthd was sampled, the figures and chart come out, and everything it
// started is gone afterwards. Targets are not asserted (a short run on a loaded CI machine says little).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeContext } from '../../bench/context.js';
import { runSoak } from '../../bench/soak/soak.js';
import { soakChart } from '../../bench/soak/chart.js';
import { formatTable } from '../../bench/stats.js';

test('soak smoke run: load ran, samples taken, figures and chart produced, nothing left running', { timeout: 300_000 }, async () => {
  const ctx = await makeContext({ iterations: 1, warmup: 0, smoke: true });
  try {
    // 12 s: the first admin toggle comes at 10 s.
    const r = await runSoak(ctx, { durationMs: 12_000, sampleMs: 2000 });
    const table = formatTable(r.rows);
    assert.ok(r.samples.length >= 5, `${r.samples.length} samples\n${table}`);
    for (const s of r.samples) assert.ok(s.rssMb > 0 && s.fds > 0 && s.heapUsedMb > 0, JSON.stringify(s));
    assert.ok(r.samples.at(-1)!.loopP99SinceStartMs > 0, 'berthd reported its event-loop delay');
    assert.ok(r.counts.statusCalls > 0, table);
    assert.ok(r.counts.logLines > 0, table);
    assert.ok(r.counts.adminToggles >= 1, table);
    assert.ok(r.counts.workloadsRun >= 1, table);
    assert.ok(r.counts.crashRestarts >= 1, table);
    assert.equal(r.counts.errors, 0, r.counts.firstErrors.join('\n'));
    assert.ok(r.fds.before > 0 && r.fds.after > 0, JSON.stringify(r.fds));
    for (const row of r.rows) assert.ok(Number.isFinite(row.berth), `${row.scenario}: ${row.berth}`);
    assert.match(soakChart(r.samples, r.fds, 'smoke'), /^<svg[\s\S]*<polyline[\s\S]*<\/svg>$/);
    // runSoak stopped its berthd: no shim of its units or workloads is left on the containerd.
    assert.deepEqual(await ctx.containerd.shimPids(), []);
  } finally {
    await ctx.containerd.stop();
  }
});
