// R3: crash loops. Five units fail in different ways — exits at once (two of them), dies of OOM under an
// 8 MiB limit, has a missing image, never passes its health check — and each must back off as specified
// (1 s, 2 s, 4 s … ±20 %, announced in its events, and actually waited that long), while a healthy unit's
// start latency (API start call → RUNNING) is not hurt by them: measured with the five looping vs stopped.
import { hostUnit, IDLE, waitUnit } from '../../tests/support/units.js';
import type { BerthClient, UnitStatus } from '../../src/cli/client.js';
import { client, dropBerthd, newBerthd, type ChaosEnv } from './env.js';
import { announcedDelays, backoffProblems, median, now, Tally, type Row } from './lib.js';

const LOOPERS: Record<string, string> = {
  exiter: hostUnit('exiter', 'echo bye; exit 1', '[restart]\npolicy = "always"'),
  exiter2: hostUnit('exiter2', 'exit 2', '[restart]\npolicy = "always"'),
  oomer: hostUnit('oomer', 'head -c 100000000 /dev/zero | tail', '[restart]\npolicy = "always"\n[resources]\nmemory = "8Mi"'),
  noimage: hostUnit('noimage', IDLE, '[restart]\npolicy = "always"').replace(/^image = .*$/m, 'image = "localhost/berth-test/missing:latest"'),
  unhealthy: hostUnit('unhealthy', IDLE, '[restart]\npolicy = "always"\n[health]\ncommand = ["/bin/false"]\ninterval = "200ms"\ntimeout = "150ms"\nstart-period = "0s"\nretries = 1'),
};

/** Events since the unit was last stopped (our start call began a fresh series). */
function sinceStart(u: UnitStatus): UnitStatus['events'] {
  const i = u.events.map((e) => e.state).lastIndexOf('stopped');
  return u.events.slice(i + 1);
}

/** Announced delay vs the time until the next attempt began (next "preparing" event). */
function actualDelayProblems(u: UnitStatus): string[] {
  const out: string[] = [];
  const ev = sinceStart(u);
  for (let i = 0; i < ev.length; i++) {
    if (ev[i]!.state !== 'backing-off') continue;
    const announced = Number(/restarting in ([\d.]+) s/.exec(ev[i]!.message)?.[1]) * 1000;
    const next = ev.slice(i + 1).find((e) => e.state === 'preparing');
    if (!next || !Number.isFinite(announced)) continue;
    const waited = Date.parse(next.at) - Date.parse(ev[i]!.at);
    // Generous: a loaded 2-core machine may run a timer late, never early.
    if (waited < announced - 150 || waited > announced + 1500) out.push(`waited ${waited} ms for an announced ${announced} ms`);
  }
  return out;
}

async function startLatency(c: BerthClient, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    await c.units.stop('probe', { timeoutMs: 30_000 });
    const t0 = now();
    const u = await c.units.start('probe', { timeoutMs: 30_000 });
    if (u.state !== 'running') throw new Error(`probe did not start: ${u.state} ${u.lastError}`);
    out.push(now() - t0);
  }
  return out;
}

export async function r3CrashLoops(env: ChaosEnv): Promise<Row[]> {
  const full = env.mode === 'full';
  const DELAYS = full ? 4 : 2;
  const SAMPLES = full ? 9 : 3;
  const t = new Tally('R3 crash loops back off, do not delay others');
  const b = await newBerthd(env, { units: { ...LOOPERS, probe: hostUnit('probe', IDLE) } });
  let c: BerthClient | undefined;
  try {
    await b.start(120_000);
    const cl = (c = client(b));
    const names = Object.keys(LOOPERS);
    for (const n of names) await cl.units.stop(n, { timeoutMs: 30_000 });
    const quiet = await startLatency(cl, SAMPLES);
    for (const n of names) await cl.units.start(n, { timeoutMs: 30_000 }).catch(() => undefined);
    // While they loop: the healthy unit's latency, then each looper's backoff series.
    const loud = await startLatency(cl, SAMPLES);
    await t.run(`healthy start latency with 5 crash loops`, async () => {
      const q = median(quiet);
      const l = median(loud);
      return l <= 2 * q + 750 ? [] : [`median ${l.toFixed(0)} ms while looping vs ${q.toFixed(0)} ms without`];
    });
    t.note = `start latency median ${median(quiet).toFixed(0)} ms quiet / ${median(loud).toFixed(0)} ms with 5 crash loops (${SAMPLES} samples each); ${DELAYS} backoff delays checked per unit`;
    const expectedWait = Array.from({ length: DELAYS }, (_, i) => Math.pow(2, i) * 1.2 + 3).reduce((a, x) => a + x, 0) * 1000 + 20_000;
    await Promise.all(names.map((n) => t.run(`${n} backoff`, async () => {
      const u = await waitUnit(cl, n, (s) => announcedDelays(sinceStart(s)).length >= DELAYS, expectedWait, `${DELAYS} backoff delays`);
      const problems = [...backoffProblems(announcedDelays(sinceStart(u)), DELAYS), ...actualDelayProblems(u)];
      if (n === 'oomer' && !u.events.some((e) => /OOM/.test(e.message))) problems.push(`OOM not reported: ${u.events.filter((e) => e.state === 'backing-off').map((e) => e.message).join(' | ')}`);
      if (n === 'unhealthy' && !u.events.some((e) => /health/.test(e.message))) problems.push('health failure not reported');
      if (n === 'noimage' && !/missing|not found|image/i.test(u.lastError ?? '')) problems.push(`missing image not named: ${u.lastError}`);
      return problems;
    })));
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    c?.close();
    await dropBerthd(env, b);
  }
  return [t.row()];
}
