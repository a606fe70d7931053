import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pullImage } from '../../src/images/pull.js';
import { registryConfig } from '../../src/images/registry/config.js';
import { TestRegistry, buildLayout, busyboxLayers } from '../../tests/support/registry.js';
import { median, nowMs, type Row } from '../stats.js';
import type { BenchContext } from '../context.js';

/**
 * Issue 6: pull (resolve → fetch → unpack → image record) of a multi-layer image from a local
 * docker-registry through berth's client, against `ctr images pull --plain-http` of the same image in the
 * same run, interleaved. Each side removes its image with a synchronous GC between iterations, so every
 * pull downloads and unpacks everything again.
 */
export async function pullScenario(ctx: BenchContext): Promise<Row[]> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-pull-'));
  const reg = await TestRegistry.start();
  try {
    // busybox + marker + 4 × 4 MiB of random bytes (smoke: 2 × 256 KiB).
    const layers = ctx.opts.smoke ? busyboxLayers(3, 256 << 10) : busyboxLayers(5, 4 << 20);
    await buildLayout(path.join(work, 'img'), [{ architecture: 'amd64', layers }]);
    await reg.push(path.join(work, 'img'), 'bench/multi', 'v1');
    const ref = `${reg.host}/bench/multi:v1`;
    const nsB = 'bench-pull-berth';
    const nsC = 'bench-pull-ctr';
    const client = ctx.containerd.client(nsB);
    const registry = registryConfig({ mirrors: new Map(), credentials: new Map(), insecure: new Map([[reg.host, true]]) });
    const berth: number[] = [];
    const ctr: number[] = [];
    const total = ctx.opts.warmup + ctx.opts.iterations;
    for (let i = 0; i < total; i++) {
      const measure = i >= ctx.opts.warmup;
      let t = nowMs();
      await pullImage(client, ref, { namespace: nsB, registry });
      if (measure) berth.push(nowMs() - t);
      await client.deleteImage(ref, true, { namespace: nsB });

      t = nowMs();
      await ctx.ctr(nsC, 'images', 'pull', '--plain-http', ref);
      if (measure) ctr.push(nowMs() - t);
      await ctx.ctr(nsC, 'images', 'rm', '--sync', ref);
    }
    client.close();
    const b = median(berth);
    const c = median(ctr);
    return [{ scenario: 'pull: multi-layer image from a local registry vs ctr images pull', berth: b, baseline: c, baselineName: 'ctr', unit: 'ms', target: '≤ 1.2× ctr', met: b <= 1.2 * c, samples: { berth, baseline: ctr } }];
  } finally {
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}
