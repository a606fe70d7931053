// Issue 16, "Stop means stop": `berthctl stop-all --yes` stops host units and workloads (both namespaces of
// berthd's own containerd) and leaves no task, container, shim or mount; the "stop everything" steps that
// `npm start` prints (`npm stop`, scripts/stop) leave nothing running at all. And "long waits say what they
// wait for": piped, stop-all and `workloads stop` print one line per step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestBerthd } from '../support/berthd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { hostUnit, IDLE, waitUnit } from '../support/units.js';
import { mountsUnder, shimPidsOf } from '../support/cleanup.js';
import { processAlive, waitFor, withDeadline } from '../support/wait.js';
import { BerthClient, type WorkloadInfo } from '../../src/cli/client.js';
import { ContainerdClient } from '../../src/containerd/client.js';
import { WORKLOAD_NAMESPACE } from '../../src/workloads/wiring.js';

const execFileP = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = path.join(ROOT, 'dist/berthctl/berthctl.cjs');
const HOST_NS = 'berth';

/** Ignores SIGTERM (a shell as PID 1 has no default action for it): only SIGKILL, after the 2 s timeout, ends it. */
const STUBBORN = 'while :; do sleep 1; done';

async function waitWorkload(client: BerthClient, name: string, pred: (w: WorkloadInfo) => boolean, what: string): Promise<WorkloadInfo> {
  return withDeadline((async () => {
    for (;;) {
      const w = await client.workloads.get(name).catch(() => undefined);
      if (w && pred(w)) return w;
      await new Promise((r) => setTimeout(r, 100));
    }
  })(), 60_000, `workload ${name}: ${what}`);
}

/** berthctl as a user runs it, output piped (so: plain progress lines). */
async function berthctl(b: TestBerthd, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileP('node', [CLI, '--socket', b.socket, ...args], { timeout: 60_000 });
}

async function tasks(cc: ContainerdClient): Promise<string[]> {
  const all = await Promise.all([HOST_NS, WORKLOAD_NAMESPACE].map(async (ns) => (await cc.listTasks({ namespace: ns })).map((t) => `${ns}/${t.id}`)));
  return all.flat();
}
async function containers(cc: ContainerdClient): Promise<string[]> {
  const all = await Promise.all([HOST_NS, WORKLOAD_NAMESPACE].map(async (ns) => (await cc.listContainers([], { namespace: ns })).map((c) => `${ns}/${c.id}`)));
  return all.flat();
}
async function taskPids(cc: ContainerdClient): Promise<number[]> {
  const all = await Promise.all([HOST_NS, WORKLOAD_NAMESPACE].map(async (ns) => (await cc.listTasks({ namespace: ns })).map((t) => t.pid)));
  return all.flat().filter((p) => p > 0);
}

test('stop-all stops units and workloads and leaves no task, container, shim or mount; npm stop leaves nothing running', { timeout: 300_000 }, async () => {
  const b = await TestBerthd.create({ units: { stubborn: hostUnit('stubborn', STUBBORN), idle: hostUnit('idle', IDLE) } });
  let client: BerthClient | undefined;
  let cc: ContainerdClient | undefined;
  try {
    // Managed containerd, as `npm start` runs it. Its image store starts empty: import, then start the units.
    await b.start(120_000);
    client = BerthClient.connect({ socketPath: b.socket });
    await client.images.import(await busyboxArchive());
    for (const name of ['stubborn', 'idle']) {
      await client.units.start(name);
      await waitUnit(client, name, (u) => u.state === 'running', 30_000, 'running');
    }
    await client.workloads.run({
      name: 'web', image: BUSYBOX_REF, command: ['/bin/sh', '-c', IDLE], env: {}, memoryBytes: 64 * 1024 * 1024, mounts: [], restart: 'always',
      capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [],
    });
    await waitWorkload(client, 'web', (w) => w.status.state === 'running', 'running');

    cc = ContainerdClient.connect(b.managedSocket);
    const socket = b.managedSocket;
    // What must go: the tasks' processes, the shims serving our containerd (only ours: matched by socket path),
    // the rootfs mounts under this test's dirs.
    const pids = await taskPids(cc);
    const shims = await shimPidsOf(socket);
    assert.equal(pids.length, 3, `three tasks: ${JSON.stringify(await tasks(cc))}`);
    assert.ok(shims.length >= 3, `a shim per task, got ${shims.length}`);
    assert.ok((await mountsUnder(b.dir)).length >= 3, 'each task has its rootfs mounted');

    // ---- stop-all, piped: one line per step ----
    const stopAll = await berthctl(b, 'stop-all', '--yes');
    const lines = stopAll.stderr.split('\n');
    for (const want of [
      /^stubborn: SIGTERM sent, SIGKILL in 2s$/,
      /^stubborn: still running after 2(\.\d)?s, SIGKILL sent$/,
      /^stubborn: stopped \(exit 137\) after 2\.\ds$/,
      /^idle: SIGTERM sent, SIGKILL in 2s$/,
      /^idle: stopped \(exit 0\) after \d+\.\ds$/,
      /^workload web: SIGTERM sent, SIGKILL in 10s$/,
      /^workload web: stopped \(exit 0\) after \d+\.\ds$/,
    ]) assert.ok(lines.some((l) => want.test(l)), `stderr has ${want}:\n${stopAll.stderr}`);
    assert.match(stopAll.stdout, /^stopped 2 units and 1 workload in \d+(\.\d)?s\n$/);

    // Nothing left: no task or container in either namespace, every process gone, no mount.
    assert.deepEqual(await tasks(cc), []);
    assert.deepEqual(await containers(cc), []);
    await waitFor(() => [...pids, ...shims].every((p) => !processAlive(p)), 10_000, 'task processes and shims to exit');
    assert.deepEqual(await shimPidsOf(socket), []);
    assert.deepEqual(await mountsUnder(b.dir), []);

    // Stopped, and stays so: desired stopped (the workload persisted as such), records kept.
    for (const u of await client.units.list()) assert.deepEqual([u.name, u.state, u.desired], [u.name, 'stopped', 'stopped']);
    const web = await client.workloads.get('web');
    assert.deepEqual([web.status.state, web.status.desired], ['stopped', 'stopped']);
    const persisted = await readFile(path.join(b.stateDir, 'workloads.json'), 'utf8');
    assert.match(persisted, /"desired":\s*"stopped"/);
    assert.doesNotMatch(persisted, /"desired":\s*"running"/);

    // `start` works again, for both.
    await client.units.start('idle');
    await waitUnit(client, 'idle', (u) => u.state === 'running', 30_000, 'running again');
    await client.workloads.start('web');
    await waitWorkload(client, 'web', (w) => w.status.state === 'running', 'running again');

    // ---- workloads stop, piped ----
    const wstop = await berthctl(b, 'workloads', 'stop', 'web');
    assert.match(wstop.stderr, /^workload web: SIGTERM sent, SIGKILL in 10s\nworkload web: stopped \(exit 0\) after \d+\.\ds\n$/);
    assert.equal(wstop.stdout, 'web: stopped\n');
    await client.workloads.start('web');
    await waitWorkload(client, 'web', (w) => w.status.state === 'running', 'running again');

    // ---- the "stop everything" steps npm start prints: npm stop (scripts/stop) ----
    const berthdPid = b.pid!;
    const containerdPid = b.managedContainerdPid()!;
    const before = [...(await taskPids(cc)), ...(await shimPidsOf(socket))];
    assert.ok(before.length >= 4, 'two tasks and their shims run again');
    client.close();
    client = undefined;
    cc.close();
    cc = undefined;
    await writeFile(path.join(b.runDir, 'berthd.pid'), `${berthdPid}\n`); // as npm start leaves it
    const stop = await execFileP('bash', [path.join(ROOT, 'scripts/stop')], {
      cwd: ROOT, timeout: 120_000, env: { ...process.env, BERTH_STATE_DIR: b.stateDir, BERTH_RUN_DIR: b.runDir },
    });
    assert.match(stop.stdout, /stopped berthd \(pid \d+\)/);
    assert.match(stop.stdout, /stopped containerd \(pid \d+\)/);
    assert.match(stop.stdout, /everything stopped/);
    // (berthd is this process's child: gone once node has reaped it.)
    const all = [berthdPid, containerdPid, ...before];
    await waitFor(() => all.every((p) => !processAlive(p)), 10_000, `${JSON.stringify(all.filter(processAlive))} to be gone`);
    assert.deepEqual(await shimPidsOf(socket), []);
    assert.deepEqual(await mountsUnder(b.dir), []);
  } finally {
    client?.close();
    cc?.close();
    await b.stop();
  }
});
