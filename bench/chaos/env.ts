// The suite's environment: one private containerd (started and stopped by PID by the runner), the busybox
// test image imported into berth's namespaces, and helpers to run berthd instances against it.
import { rm } from 'node:fs/promises';
import { TestContainerd } from '../../tests/support/containerd.js';
import { forceDeleteRuncState } from '../../tests/support/cleanup.js';
import { TestBerthd, type BerthdOptions } from '../../tests/support/berthd.js';
import { busyboxArchive } from '../../tests/support/images.js';
import { importArchive } from '../../src/images/import.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { BerthClient } from '../../src/cli/client.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import type { Mode } from './lib.js';

export const NS = 'berth';
export const WORKLOAD_NS = 'berth-workloads';

export interface ChaosEnv {
  mode: Mode;
  seed: number;
  ctd: TestContainerd;
  /** Client in berth's namespace (re-created after containerd restarts by grpc itself). */
  cc: ContainerdClient;
  /** Started berthd instances, stopped (by PID) when a scenario ends even if it threw. */
  berthds: Set<TestBerthd>;
  /**
   * Every berthd ever created, swept again once containerd is gone: a create a SIGKILLed berthd left in
   * flight can finish after that berthd's stop() and put runc state back under its run dir.
   */
  everyBerthd: Set<TestBerthd>;
}

export async function makeEnv(mode: Mode, seed: number): Promise<ChaosEnv> {
  const ctd = await TestContainerd.start();
  const cc = ctd.client(NS);
  const archive = await busyboxArchive();
  await importArchive(cc, archive, { namespace: NS });
  await cc.createNamespace(WORKLOAD_NS).catch(() => undefined);
  await importArchive(cc, archive, { namespace: WORKLOAD_NS });
  return { mode, seed, ctd, cc, berthds: new Set(), everyBerthd: new Set() };
}

export async function closeEnv(env: ChaosEnv): Promise<void> {
  for (const b of env.berthds) await b.stop().catch(() => undefined);
  env.berthds.clear();
  env.cc.close();
  await env.ctd.stop();
  for (const b of env.everyBerthd) {
    await forceDeleteRuncState(b.runcRoot);
    await rm(b.dir, { recursive: true, force: true });
  }
  env.everyBerthd.clear();
}

export async function newBerthd(env: ChaosEnv, opts: Omit<BerthdOptions, 'containerd'>): Promise<TestBerthd> {
  const b = await TestBerthd.create({ containerd: env.ctd, ...opts });
  env.berthds.add(b);
  env.everyBerthd.add(b);
  return b;
}

/** Stop a berthd (SIGKILL by PID, dirs removed) and remove every container it left in both namespaces. */
export async function dropBerthd(env: ChaosEnv, b: TestBerthd): Promise<void> {
  await b.stop().catch(() => undefined);
  env.berthds.delete(b);
  await removeAll(env, NS);
  await removeAll(env, WORKLOAD_NS);
}

export async function removeAll(env: ChaosEnv, ns: string): Promise<void> {
  const lc = new ContainerLifecycle(env.cc, ns);
  for (const c of await env.cc.listContainers([], { namespace: ns }).catch(() => [])) await lc.remove(c.id).catch(() => undefined);
}

export function client(b: TestBerthd): BerthClient {
  return BerthClient.connect({ socketPath: b.socket });
}
