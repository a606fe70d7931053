import { writeFile } from 'node:fs/promises';
import { TestBerthd } from '../../tests/support/berthd.js';
import { TestDockerd } from '../../tests/support/dockerd.js';
import { busyboxArchive, BUSYBOX_REF } from '../../tests/support/images.js';
import { importArchive } from '../../src/images/import.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { BerthClient } from '../../src/cli/client.js';
import { WORKLOAD_NAMESPACE } from '../../src/workloads/wiring.js';
import { execFileP, type BenchContext } from '../context.js';
import { median, nowMs, type Row } from '../stats.js';

const CTR_NS = 'bench-wl-ctr';
const SLEEP = ['/bin/sleep', '100000'];

async function cleanNamespace(ctx: BenchContext, ns: string): Promise<void> {
  const client = ctx.containerd.client(ns);
  const lc = new ContainerLifecycle(client, ns);
  for (const c of await client.listContainers()) await lc.remove(c.id);
  client.close();
}

/** n workloads submitted at once through the API; ms until every one is RUNNING. */
async function berthRun(client: BerthClient, n: number, prefix: string): Promise<number> {
  const t = nowMs();
  await Promise.all(Array.from({ length: n }, (_, i) => client.workloads.run({
    name: `${prefix}${i}`, image: BUSYBOX_REF, command: SLEEP, env: {}, memoryBytes: 16 << 20, mounts: [], restart: 'always',
    capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [],
  })));
  for (;;) {
    const list = await client.workloads.list();
    if (list.filter((w) => w.status.state === 'running').length >= n) break;
    const failed = list.find((w) => w.status.state === 'failed');
    if (failed) throw new Error(`workload ${failed.request.name} failed: ${failed.status.lastError}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = nowMs() - t;
  await Promise.all(Array.from({ length: n }, (_, i) => client.workloads.remove(`${prefix}${i}`)));
  return ms;
}

async function ctrRun(ctx: BenchContext, n: number, prefix: string): Promise<number> {
  const t = nowMs();
  for (let i = 0; i < n; i++) await ctx.ctr(CTR_NS, 'run', '-d', '--null-io', '--memory-limit', String(16 << 20), BUSYBOX_REF, `${prefix}${i}`, ...SLEEP);
  const ms = nowMs() - t;
  await cleanNamespace(ctx, CTR_NS);
  return ms;
}

async function dockerRun(dockerd: TestDockerd, n: number, prefix: string): Promise<number> {
  const host = ['-H', `unix://${dockerd.socket}`];
  const t = nowMs();
  for (let i = 0; i < n; i++) await execFileP('docker', [...host, 'run', '-d', '--network', 'none', '--memory', '16m', '--name', `${prefix}${i}`, BUSYBOX_REF, ...SLEEP]);
  const ms = nowMs() - t;
  const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  await execFileP('docker', [...host, 'rm', '-f', ...names]);
  return ms;
}

/**
 * Issue 7: 50 workloads started by berth on containerd (API → all RUNNING, policy-checked, persisted,
 * supervised) against 50 sequential `ctr run -d` and 50 `docker run -d` on a private dockerd, same run.
 */
export async function workloadScenarios(ctx: BenchContext): Promise<Row[]> {
  const n = ctx.opts.smoke ? 5 : 50;
  const reps = ctx.opts.smoke ? 1 : Math.max(1, Math.min(ctx.opts.iterations, 3));
  for (const ns of [WORKLOAD_NAMESPACE, CTR_NS]) {
    const c = ctx.containerd.client(ns);
    await importArchive(c, await busyboxArchive(), { namespace: ns });
    c.close();
  }
  const dockerd = await TestDockerd.start();
  const b = await TestBerthd.create({ containerd: ctx.containerd });
  try {
    await dockerd.loadBusybox(BUSYBOX_REF);
    await writeFile(b.settingsDefaults, '[settings.selinux]\nmode = "auto"\n[settings.workloads]\nruntime = "containerd"\nrequire-memory-limit = true\n');
    await b.start();
    const client = BerthClient.connect({ socketPath: b.socket });
    const berth: number[] = [];
    const ctr: number[] = [];
    const docker: number[] = [];
    try {
      for (let r = 0; r < reps; r++) {
        berth.push(await berthRun(client, n, `w${r}-`));
        ctr.push(await ctrRun(ctx, n, `c${r}-`));
        docker.push(await dockerRun(dockerd, n, `d${r}-`));
      }
    } finally {
      client.close();
    }
    const bm = median(berth);
    return [
      { scenario: `W1 ${n} workloads → all RUNNING (berth, containerd)`, berth: bm, baseline: median(ctr), baselineName: `${n}× ctr run -d`, unit: 'ms', target: '≤ 1× ctr', met: bm <= median(ctr), samples: { berth, baseline: ctr } },
      { scenario: `W1 ${n} workloads → all RUNNING vs docker`, berth: bm, baseline: median(docker), baselineName: `${n}× docker run -d`, unit: 'ms', target: '≤ 1× docker', met: bm <= median(docker), samples: { berth, baseline: docker } },
    ];
  } finally {
    await b.stop();
    await cleanNamespace(ctx, WORKLOAD_NAMESPACE).catch(() => undefined);
    await dockerd.stop();
  }
}
