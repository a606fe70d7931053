import { importArchive } from '../../src/images/import.js';
import { busyboxArchive, BUSYBOX_REF } from '../../tests/support/images.js';
import { minimalSpec } from '../../tests/support/minimal-spec.js';
import { median, nowMs, type Row } from '../stats.js';
import type { BenchContext } from '../context.js';

/**
 * P1 at the client level (issue 2): create → task RUNNING through berth's client with the connection
 * already open, against `ctr run -d` of the same image in the same run, interleaved.
 */
export async function clientStart(ctx: BenchContext): Promise<Row[]> {
  const ns = 'bench-p1';
  const client = ctx.containerd.client(ns);
  const lc = ctx.containerd.lifecycle(client, ns);
  await importArchive(client, await busyboxArchive(), { namespace: ns });
  const berth: number[] = [];
  const ctr: number[] = [];
  const total = ctx.opts.warmup + ctx.opts.iterations;
  for (let i = 0; i < total; i++) {
    const measure = i >= ctx.opts.warmup;
    const id = `b${i}`;
    let t = nowMs();
    const { mounts } = await lc.create({ id, image: BUSYBOX_REF, spec: minimalSpec(id, ns, ['/bin/sleep', '1000']) });
    await lc.run(id, { kind: 'null' }, mounts);
    if (measure) berth.push(nowMs() - t);

    const cid = `c${i}`;
    t = nowMs();
    await ctx.ctr(ns, 'run', '-d', '--null-io', '--rootfs-propagation', 'rprivate', BUSYBOX_REF, cid, '/bin/sleep', '1000');
    if (measure) ctr.push(nowMs() - t);
    await lc.remove(id);
    await lc.remove(cid);
  }
  client.close();
  const b = median(berth);
  const c = median(ctr);
  return [{ scenario: 'P1 client: create → RUNNING vs ctr run -d', berth: b, baseline: c, baselineName: 'ctr', unit: 'ms', target: '≤ 0.8× ctr', met: b <= 0.8 * c, samples: { berth, baseline: ctr } }];
}
