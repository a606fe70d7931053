// R2: containerd SIGKILLed and restarted while units start, stop and crash. Host containers keep their
// PIDs (their shims outlive containerd); berthd reconverges each time — time measured from containerd
// answering again to: containerd "connected" in berthd's status, every unit in its desired state, nothing
// left of the units stopped meanwhile.
import { hostUnit, IDLE } from '../../tests/support/units.js';
import { waitFor } from '../../tests/support/wait.js';
import type { BerthClient } from '../../src/cli/client.js';
import { client, dropBerthd, newBerthd, NS, type ChaosEnv } from './env.js';
import { inventory, now, pause, prng, Tally, type Row } from './lib.js';

export async function r2ContainerdRestarts(env: ChaosEnv): Promise<Row[]> {
  const full = env.mode === 'full';
  const ROUNDS = full ? 10 : 2;
  const deadline = Date.now() + (full ? 5 : 2) * 60_000;
  const t = new Tally('R2 containerd killed and restarted');
  const random = prng(env.seed ^ 0x2222);
  const keep = ['keep0', 'keep1', 'keep2', 'keep3', 'keep4'];
  const crash = ['crash0', 'crash1'];
  const toggle = ['tog0', 'tog1', 'tog2'];
  const units: Record<string, string> = {};
  for (const n of [...keep, ...toggle]) units[n] = hostUnit(n, IDLE);
  for (const n of crash) units[n] = hostUnit(n, 'sleep 0.7; exit 1', '[restart]\npolicy = "always"');
  const b = await newBerthd(env, { units });
  let c: BerthClient | undefined;
  try {
    await b.start(120_000);
    const cl = (c = client(b));
    const pid = b.pid;
    const desired = new Map(toggle.map((n) => [n, 'running' as 'running' | 'stopped']));
    for (let round = 1; round <= ROUNDS; round++) {
      if (Date.now() > deadline) {
        t.fail(`deadline passed after ${round - 1} rounds`);
        break;
      }
      await t.run(`round ${round}`, async () => {
        const before = (await inventory(env.cc, env.ctd, NS)).runningTasks;
        const keepPids = Object.fromEntries(keep.map((k) => [k, before[k]]));
        // The driver: starts and stops toggles through the API while containerd dies and comes back.
        let driving = true;
        const driver = (async () => {
          for (let i = 0; driving && i < 200; i++) {
            const n = toggle[Math.floor(random() * toggle.length)]!;
            const want = random() < 0.5 ? 'running' : 'stopped';
            desired.set(n, want); // the supervisor takes the desired state at the call, even if the call fails
            await (want === 'running' ? cl.units.start(n, { timeoutMs: 20_000 }) : cl.units.stop(n, { timeoutMs: 20_000 })).catch(() => undefined);
          }
        })();
        await pause(random() * 1500);
        await env.ctd.kill();
        await pause(random() * 500);
        await env.ctd.launch();
        const r0 = now();
        driving = false;
        await driver;
        const problems: string[] = [];
        let last = '';
        await waitFor(async () => {
          const st = await cl.host.version({ timeoutMs: 5000 }).catch(() => undefined);
          if (st?.daemon.containerd !== 'connected') return (last = `containerd ${st?.daemon.containerd}`), false;
          const list = await cl.units.list({ timeoutMs: 5000 });
          const inv = await inventory(env.cc, env.ctd, NS);
          for (const u of list) {
            if (keep.includes(u.name) && (u.state !== 'running' || inv.runningTasks[u.name] === undefined)) return (last = `${u.name} ${u.state}`), false;
            if (toggle.includes(u.name)) {
              const want = desired.get(u.name)!;
              if (want === 'running' && (u.state !== 'running' || inv.runningTasks[u.name] !== u.pid)) return (last = `${u.name} ${u.state}, wants running`), false;
              if (want === 'stopped' && (u.state !== 'stopped' || inv.containers.includes(u.name))) return (last = `${u.name} ${u.state}, container ${inv.containers.includes(u.name)}, wants stopped`), false;
            }
            if (crash.includes(u.name) && !['running', 'backing-off', 'preparing', 'starting'].includes(u.state)) return (last = `${u.name} ${u.state}`), false;
          }
          return true;
        }, 30_000, 'reconverged').catch((e: Error) => {
          const unit = /^(\S+)/.exec(last)?.[1] ?? '';
          const trail = b.log().split('\n').filter((l) => l.includes(`"${unit}"`) || /containerd|resync|reconcil/.test(l)).slice(-8).join('\n');
          problems.push(`${e.message} (last: ${last}); log:\n${trail}`);
        });
        if (problems.length) return problems;
        t.recovery(now() - r0);
        const inv = await inventory(env.cc, env.ctd, NS);
        for (const k of keep) if (inv.runningTasks[k] !== keepPids[k]) problems.push(`${k} pid ${keepPids[k]} → ${inv.runningTasks[k]}`);
        const stable = inv.containers.filter((id) => !crash.includes(id));
        const snaps = inv.activeSnapshots.filter((s) => !crash.includes(s));
        if (stable.join() !== snaps.join()) problems.push(`snapshots ${snaps.join(',')} vs containers ${stable.join(',')}`);
        if (inv.leases.length) problems.push(`leases ${inv.leases.join(',')}`);
        const unclaimed = inv.containers.filter((id) => !(id in units));
        if (unclaimed.length) problems.push(`unclaimed containers ${unclaimed.join(',')}`);
        if (b.pid !== pid || b.child?.exitCode !== null) problems.push('berthd exited');
        return problems;
      });
    }
    t.note = `${ROUNDS} containerd SIGKILL/relaunch cycles with 3 units toggled through the API and 2 crash-looping; recovery from containerd answering`;
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    c?.close();
    await dropBerthd(env, b);
  }
  return [t.row()];
}
