// R1: kill -9 berthd at random points of a 50-unit start storm. Each round removes a random subset of the
// unit containers behind berthd's back (round 1: all of them), starts berthd — which adopts the rest and
// starts the missing ones — and SIGKILLs it at a random instant of that storm. Then berthd is started
// again and must converge: every unit running, tasks that were RUNNING at kill time kept (same PID), no
// duplicate containers, no containers/tasks no unit claims, one active snapshot per container, no leases,
// no stray rootfs mounts.
import { hostUnit, IDLE } from '../../tests/support/units.js';
import { waitFor } from '../../tests/support/wait.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import type { BerthClient } from '../../src/cli/client.js';
import { client, dropBerthd, newBerthd, NS, type ChaosEnv } from './env.js';
import { inventory, leakProblems, now, pause, prng, Tally, type Row } from './lib.js';

export async function r1KillBerthd(env: ChaosEnv): Promise<Row[]> {
  const full = env.mode === 'full';
  const UNITS = full ? 50 : 12;
  const ROUNDS = full ? 20 : 3;
  const deadline = Date.now() + (full ? 8 : 3) * 60_000;
  const t = new Tally(`R1 kill -9 berthd during a ${UNITS}-unit start storm`);
  const random = prng(env.seed ^ 0x1111);
  const names = Array.from({ length: UNITS }, (_, i) => `s${String(i).padStart(2, '0')}`);
  const units = Object.fromEntries(names.map((n) => [n, hostUnit(n, IDLE)]));
  const b = await newBerthd(env, { units });
  let c: BerthClient | undefined;
  try {
    // A first full start measures how long a storm lasts, so kill instants spread over all of it.
    const t0 = now();
    await b.start(180_000);
    const stormMs = Math.max(500, now() - t0);
    await b.kill();
    const lc = new ContainerLifecycle(env.cc, NS);
    for (let round = 1; round <= ROUNDS; round++) {
      if (Date.now() > deadline) {
        t.fail(`deadline passed after ${round - 1} rounds`);
        break;
      }
      await t.run(`round ${round}`, async () => {
        // Remove a random subset (all of them in round 1) so the next start is a storm of creates.
        const victims = round === 1 ? names : names.filter(() => random() < 0.6);
        await Promise.all(victims.map((n) => lc.remove(n).catch(() => undefined)));
        const killAt = random() * stormMs;
        const starting = b.start(180_000).catch(() => undefined);
        await pause(killAt);
        await b.kill();
        await starting;
        // What ran at kill time (berthd is dead: nothing changes it now) must be adopted, not restarted.
        const atKill = (await inventory(env.cc, env.ctd, NS)).runningTasks;
        const r0 = now();
        await b.start(180_000);
        c ??= client(b);
        const cl = c;
        await waitFor(async () => (await cl.units.list({ timeoutMs: 5000 })).filter((u) => u.state === 'running').length === UNITS, 120_000, `all ${UNITS} units running`);
        t.recovery(now() - r0);
        const problems: string[] = [];
        const inv = await inventory(env.cc, env.ctd, NS);
        for (const [id, pid] of Object.entries(atKill)) {
          if (inv.runningTasks[id] !== pid) problems.push(`${id} was running (pid ${pid}) at kill time and was restarted (now ${inv.runningTasks[id]})`);
        }
        const list = await cl.units.list();
        for (const u of list) if (inv.runningTasks[u.name] !== u.pid) problems.push(`${u.name}: berthd says pid ${u.pid}, containerd ${inv.runningTasks[u.name]}`);
        problems.push(...leakProblems(inv, names));
        await b.kill();
        return problems;
      });
    }
    t.note = `${ROUNDS} rounds, kill at 0–${Math.round(stormMs)} ms into the storm; recovery = restart → all running`;
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    c?.close();
    await dropBerthd(env, b);
  }
  return [t.row()];
}
