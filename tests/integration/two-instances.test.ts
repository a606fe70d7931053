// Issue 16: two berthd + containerd pairs on one host, same namespace, same unit name. Before each berth had
// a runc root of its own, both ran runc on /run/containerd/runc/berth/control: the second create failed
// ("container with given ID already exists") and a stop of one killed or deleted the other's container.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, rmdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { minimalSpec } from '../support/minimal-spec.js';
import { hostUnit, waitUnit } from '../support/units.js';
import { processAlive, waitFor } from '../support/wait.js';
import { removeCgroupParent } from '../support/cleanup.js';
import { importArchive } from '../../src/images/import.js';
import { BerthClient } from '../../src/cli/client.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { ContainerLifecycle, RUNC_V2 } from '../../src/containerd/lifecycle.js';
import { jsonAny, RUNC_OPTIONS_TYPE_URL, SPEC_TYPE_URL } from '../../src/containerd/codec.js';
import { DEFAULT_RUNC_ROOT, runcRootOf, runcStateDir } from '../../src/containerd/runc-root.js';
import { ContainerdRuntime } from '../../src/runtime/containerd-runtime.js';

const NS = 'berth';
// SIGTERM is ignored: every stop ends in SIGKILL to all the container's processes (runc kill --all).
const STUBBORN = 'trap "" TERM; while :; do sleep 1 & wait $!; done';
const CONTROL = hostUnit('control', STUBBORN, '[restart]\npolicy = "always"');

interface Pair {
  ctd: TestContainerd;
  cc: ContainerdClient;
  b: TestBerthd;
  api: BerthClient;
}
let A: Pair;
let B: Pair | undefined;

async function startPair(): Promise<Pair> {
  const ctd = await TestContainerd.start();
  const cc = ctd.client(NS);
  await importArchive(cc, await busyboxArchive(), { namespace: NS });
  const b = await TestBerthd.create({ containerd: ctd, units: { control: CONTROL } });
  await b.start();
  return { ctd, cc, b, api: BerthClient.connect({ socketPath: b.socket }) };
}

async function stopPair(p: Pair | undefined): Promise<void> {
  p?.api.close();
  await p?.b.stop();
  p?.cc.close();
  await p?.ctd.stop();
}

before(async () => {
  A = await startPair();
  B = await startPair();
});

function pairB(): Pair {
  assert.ok(B, 'pair B is running');
  return B;
}
after(async () => {
  await stopPair(A);
  await stopPair(B);
});

/** The pid runc recorded for `control` under a root, or undefined when it has no state there. */
async function runcPid(root: string, id = 'control', ns = NS): Promise<number | undefined> {
  try {
    return (JSON.parse(await readFile(path.join(runcStateDir(root, ns, id), 'state.json'), 'utf8')) as { init_process_pid: number }).init_process_pid;
  } catch {
    return undefined;
  }
}

async function running(p: Pair): Promise<number> {
  const u = await waitUnit(p.api, 'control', (s) => s.state === 'running' && s.pid > 0, 20_000, 'control running');
  return u.pid;
}

/** The other instance's control: same pid in berthd, in containerd and in its runc state, still alive. */
async function assertUntouched(p: Pair, pid: number, what: string): Promise<void> {
  const u = await p.api.units.get('control');
  assert.equal(u.state, 'running', `${what}: state`);
  assert.equal(u.pid, pid, `${what}: berthd pid`);
  const task = await p.cc.getTask('control');
  assert.deepEqual([task.status, task.pid], ['RUNNING', pid], `${what}: containerd task`);
  assert.equal(await runcPid(p.b.runcRoot), pid, `${what}: runc state`);
  assert.ok(processAlive(pid), `${what}: process alive`);
}

test('same namespace, same unit name: both run, each with its runc state under its own berth run dir', async () => {
  const pidA = await running(A);
  const pidB = await running(pairB());
  assert.notEqual(pidA, pidB);
  assert.equal(await runcPid(A.b.runcRoot), pidA);
  assert.equal(await runcPid(pairB().b.runcRoot), pidB);
  assert.notEqual(A.b.runcRoot, pairB().b.runcRoot);
  assert.equal(runcRootOf((await A.cc.getContainer('control')).runtime?.options), A.b.runcRoot);
  assert.equal(runcRootOf((await pairB().cc.getContainer('control')).runtime?.options), pairB().b.runcRoot);
  // …and each in a cgroup of its own (one cgroup would make a SIGKILL to all of one's processes kill both).
  const memoryCgroup = async (pid: number) => (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n').find((l) => /:memory:/.test(l));
  const [cgA, cgB] = [await memoryCgroup(pidA), await memoryCgroup(pidB)];
  assert.match(cgA ?? '', /\/control$/);
  assert.notEqual(cgA, cgB);
  // Neither is in containerd's shared default root (another berth on this host may have its own control there).
  const shared = await runcPid(DEFAULT_RUNC_ROOT);
  assert.ok(shared !== pidA && shared !== pidB, `shared root holds pid ${shared}`);
});

test('stopping one (SIGKILL to all its processes), starting and restarting it leave the other\'s task running with the same pid', async () => {
  const pidA = await running(A);
  const pidB = await running(pairB());
  await A.api.units.stop('control');
  await waitUnit(A.api, 'control', (s) => s.state === 'stopped', 20_000, 'A control stopped');
  await waitFor(() => !processAlive(pidA), 10_000, 'A control process to exit');
  assert.equal(await runcPid(A.b.runcRoot), undefined, 'A runc state removed with its task');
  await assertUntouched(pairB(), pidB, 'B after A stopped');

  await A.api.units.start('control');
  const pidA2 = await running(A);
  assert.notEqual(pidA2, pidA);
  assert.equal(await runcPid(A.b.runcRoot), pidA2);
  await assertUntouched(pairB(), pidB, 'B after A started again');

  await pairB().api.units.restart('control');
  const pidB2 = await waitUnit(pairB().api, 'control', (s) => s.state === 'running' && s.pid !== pidB, 20_000, 'B control restarted').then((u) => u.pid);
  await waitFor(() => !processAlive(pidB), 10_000, 'B old control process to exit');
  assert.equal(await runcPid(pairB().b.runcRoot), pidB2);
  await assertUntouched(A, pidA2, 'A after B restarted');
});

test('a crashed shim is cleaned up (`shim delete` reads the root from the bundle) without touching the other instance', async () => {
  const pidA = await running(A);
  const pidB = await running(pairB());
  const shims = await A.ctd.shimPids();
  assert.equal(shims.length, 1, `A's shims: ${shims.join(' ')}`);
  process.kill(shims[0]!, 'SIGKILL');
  // containerd runs `containerd-shim-runc-v2 delete`, which `runc delete --force`s the container under the
  // root recorded in the bundle: with the wrong root the process would live on and its state stay behind.
  await waitFor(() => !processAlive(pidA), 15_000, 'A control process killed by the shim cleanup');
  const pidA2 = await waitUnit(A.api, 'control', (s) => s.state === 'running' && s.pid !== pidA, 30_000, 'A control restarted').then((u) => u.pid);
  assert.equal(await runcPid(A.b.runcRoot), pidA2);
  await assertUntouched(pairB(), pidB, 'B after A\'s shim crashed');
});

test('a container made by an older berth (no runc root recorded, state in the shared root) is still adopted, stopped and removed', async () => {
  const ns = `berth-legacy-${process.pid}`;
  const id = 'legacy';
  const cc = A.ctd.client(ns);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-legacy-'));
  try {
    await importArchive(cc, await busyboxArchive(), { namespace: ns });
    const parent = (await new ContainerLifecycle(cc, ns).resolveImage(BUSYBOX_REF)).chainIds.at(-1)!;
    // What berth did before: empty runc options on the record, none on Tasks.Create.
    await cc.createContainer({
      id, image: BUSYBOX_REF, labels: { 'berth.unit': id },
      runtime: { name: RUNC_V2, options: { type_url: RUNC_OPTIONS_TYPE_URL, value: Buffer.alloc(0) } },
      spec: jsonAny(SPEC_TYPE_URL, minimalSpec(id, ns, ['/bin/sleep', '1000'])), snapshotter: 'overlayfs', snapshot_key: id,
    });
    const rootfs = await cc.prepareSnapshot('overlayfs', id, parent);
    await cc.createTask({ container_id: id, rootfs });
    const oldPid = await cc.startTask(id);
    assert.equal(await runcPid(DEFAULT_RUNC_ROOT, id, ns), oldPid);

    const root = path.join(tmp, 'runc');
    const runtime = new ContainerdRuntime(cc, ns, { fifo: path.join(tmp, 'fifo'), runc: root }, { attach: () => undefined }, { ensure: () => Promise.reject(new Error('no images here')), forget: () => undefined });
    const adopted = await runtime.adopt(id, id);
    assert.equal(adopted.pid, oldPid);
    await runtime.signal(id, 9);
    assert.equal((await adopted.exited).exitCode, 137);
    // Its next task (a restart) runs under the new root; removal leaves no state in either root.
    await cc.deleteTask(id);
    assert.equal(await runcPid(DEFAULT_RUNC_ROOT, id, ns), undefined);
    const started = await runtime.start(id, id);
    assert.equal(await runcPid(root, id, ns), started.pid);
    await runtime.remove(id);
    assert.equal(await runcPid(root, id, ns), undefined);
    await assert.rejects(stat(runcStateDir(root, ns, id)));
  } finally {
    await new ContainerLifecycle(cc, ns).remove(id).catch(() => undefined);
    cc.close();
    await rm(tmp, { recursive: true, force: true });
    await rmdir(path.join(DEFAULT_RUNC_ROOT, ns)).catch(() => undefined); // runc leaves its namespace dir
    await removeCgroupParent(`/${ns}`);
  }
});

test('stopping a pair (test support) leaves nothing of it: no runc state, no container process, no cgroup, no dir', async () => {
  const b = pairB();
  const pidB = await running(b);
  const pidA = await running(A);
  const memory = (await readFile(`/proc/${pidB}/cgroup`, 'utf8')).split('\n').find((l) => /:memory:/.test(l))!.split(':')[2]!;
  const parent = path.dirname(memory);
  B = undefined;
  await stopPair(b);
  assert.ok(!processAlive(pidB), 'container process gone');
  await assert.rejects(stat(b.b.runcRoot), 'runc root removed');
  await assert.rejects(stat(b.b.dir), 'berthd dir removed');
  await assert.rejects(stat(b.ctd.dir), 'containerd dir removed');
  await assert.rejects(stat(path.join('/sys/fs/cgroup/memory', parent)), `cgroup parent ${parent} removed`);
  await assertUntouched(A, pidA, 'A after B was torn down');
});
