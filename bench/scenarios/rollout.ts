// R1 (issue 18): what a guarded rollout costs. `set host-containers.<name>.source=B` → B RUNNING with the
// image cached, on a guarded host container, against the same change on one with `rollout.guard=false` (a
// plain stop and start), in the same berthd and the same run. The guard's extra work before the stop: the
// image lookup, pinning the previous image by digest, and persisting the rollout's first steps.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestBerthd } from '../../tests/support/berthd.js';
import { IDLE, waitUnit } from '../../tests/support/units.js';
import { writeOciArchive } from '../../src/images/oci-archive.js';
import { busyboxRootfs } from '../../src/images/busybox-rootfs.js';
import { BerthClient } from '../../src/cli/client.js';
import { median, nowMs, type Row } from '../stats.js';
import type { BenchContext } from '../context.js';

const REFS = ['localhost/berth-bench/rollout:a', 'localhost/berth-bench/rollout:b'] as const;

export async function rolloutScenario(ctx: BenchContext): Promise<Row[]> {
  const reps = ctx.opts.iterations;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-rollout-'));
  const b = await TestBerthd.create({ containerd: ctx.containerd });
  let client: BerthClient | undefined;
  try {
    await b.start(60_000);
    client = BerthClient.connect({ socketPath: b.socket });
    for (const ref of REFS) {
      const file = path.join(tmp, `${ref.slice(-1)}.tar`);
      await writeOciArchive(file, { ref, layers: [busyboxRootfs([{ type: 'file', path: 'variant', content: Buffer.from(`${ref}\n`), mode: 0o644 }])], config: { cmd: ['/bin/sh', '-c', IDLE] } });
      await client.images.import(file, ref, { timeoutMs: 60_000 });
    }
    const c = client;
    await c.settings.set({
      'host-containers.guarded.enabled': 'true', 'host-containers.guarded.source': REFS[0], 'host-containers.guarded.rollout.watch': '1s',
      'host-containers.plain.enabled': 'true', 'host-containers.plain.source': REFS[0], 'host-containers.plain.rollout.guard': 'false',
    });
    // Set `unit`'s source to `ref`; the time until its new run is RUNNING. A guarded one is then waited on
    // until its rollout concludes (1 s watch), so the next change starts a new rollout, not a superseding one.
    const change = async (unit: 'guarded' | 'plain', ref: string): Promise<number> => {
      const ac = new AbortController();
      let started = NaN;
      const done = (async () => {
        for await (const ev of c.events.watch({ signal: ac.signal })) {
          if (ev.kind !== 'unit' || ev.unit !== unit) continue;
          if (ev.state === 'running' && ev.message.startsWith('started')) {
            started = nowMs();
            if (unit === 'plain') return;
          }
          if (/^rollout \d+ (succeeded|rolled-back|failed)/.test(ev.message)) {
            if (!/succeeded/.test(ev.message)) throw new Error(`R1: ${ev.message}`);
            return;
          }
        }
      })();
      const t = nowMs();
      await c.settings.set({ [`host-containers.${unit}.source`]: ref });
      const deadline = setTimeout(() => ac.abort(), 60_000);
      try {
        await done;
      } finally {
        clearTimeout(deadline);
        ac.abort();
      }
      if (Number.isNaN(started)) throw new Error(`R1: ${unit} did not reach RUNNING on ${ref}`);
      return started - t;
    };
    await waitUnit(c, 'guarded', (u) => u.state === 'running', 60_000, 'guarded running');
    await waitUnit(c, 'plain', (u) => u.state === 'running', 60_000, 'plain running');
    const guarded: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < ctx.opts.warmup + reps; i++) {
      const ref = REFS[(i + 1) % 2]!;
      const g = await change('guarded', ref);
      const p = await change('plain', ref);
      if (i >= ctx.opts.warmup) {
        guarded.push(g);
        plain.push(p);
      }
    }
    const g = median(guarded);
    const p = median(plain);
    return [{
      scenario: 'R1 set host-containers.X.source=B → B RUNNING (guarded rollout, image cached)', berth: g, baseline: p,
      baselineName: 'plain stop+start: rollout.guard=false, this run', unit: 'ms', target: '≤ 1.2× plain', met: g <= 1.2 * p,
      samples: { berth: guarded, baseline: plain },
    }];
  } finally {
    client?.close();
    await b.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}
