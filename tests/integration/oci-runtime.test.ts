// oci-runtime.binary against a real containerd: the runc v2 shim runs the binary berth names in the runtime
// options (binary_name) instead of `runc`. crun cannot run on this machine kind (it refuses the hybrid cgroup
// layout; the VM proof runs it), so the named binary here is a wrapper that logs each call and runs runc:
// what it logs is what the shim asked of the binary berth chose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { minimalSpec } from '../support/minimal-spec.js';
import { removeCgroupParent } from '../support/cleanup.js';
import { processAlive, waitFor } from '../support/wait.js';
import { importArchive } from '../../src/images/import.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { runcBinaryOf } from '../../src/containerd/runc-root.js';
import { ContainerdRuntime } from '../../src/runtime/containerd-runtime.js';
import type { OciSpec } from '../../src/ocispec/types.js';

const NS = `berth-oci-${process.pid}`;
let ctd: TestContainerd;
let cc: ContainerdClient;
let tmp: string;
let parent: string;

async function runcPath(): Promise<string> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir, 'runc');
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  throw new Error('runc not found on PATH');
}

before(async () => {
  ctd = await TestContainerd.start();
  cc = ctd.client(NS);
  await importArchive(cc, await busyboxArchive(), { namespace: NS });
  parent = (await new ContainerLifecycle(cc, NS).resolveImage(BUSYBOX_REF)).chainIds.at(-1)!;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-oci-'));
});

after(async () => {
  cc?.close();
  await ctd?.stop();
  await removeCgroupParent(`/${NS}`);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The verbs (create, start, kill, delete…) the wrapper was called with, one per call, for container `id`. */
async function callsFor(log: string, id: string): Promise<string[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  const verbs = ['create', 'start', 'kill', 'delete', 'state', 'exec'];
  return text.split('\n').filter((l) => l.split(' ').includes(id)).map((l) => l.split(' ').find((w) => verbs.includes(w)) ?? l);
}

test('the shim runs the binary oci-runtime.binary names, for containers created after it is set; runc is untouched', async () => {
  const log = path.join(tmp, 'calls.log');
  const wrapper = path.join(tmp, 'oci-wrapper');
  await writeFile(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec ${await runcPath()} "$@"\n`);
  await chmod(wrapper, 0o755);
  let setting = wrapper;
  const runtime = new ContainerdRuntime(cc, NS, { fifo: path.join(tmp, 'fifo'), runc: ctd.runcRoot }, { attach: () => undefined },
    { ensure: () => Promise.reject(new Error('no images here')), forget: () => undefined }, () => setting);
  const spec = (id: string): OciSpec => minimalSpec(id, NS, ['/bin/sleep', '1000']) as OciSpec;

  await runtime.create('wrapped', BUSYBOX_REF, spec('wrapped'), {}, parent);
  setting = 'runc'; // a commit now: the container above keeps the wrapper, the next one is runc's
  const wrapped = await runtime.start('wrapped', 'wrapped');
  assert.ok(processAlive(wrapped.pid));
  assert.equal(runcBinaryOf((await cc.getContainer('wrapped', { namespace: NS })).runtime?.options), wrapper);
  const calls = await callsFor(log, 'wrapped');
  assert.ok(calls.includes('create') && calls.includes('start'), `wrapper calls: ${JSON.stringify(calls)}`);
  // go-runc's command line: the runc root berth gave the shim comes along with the binary.
  assert.match(await readFile(log, 'utf8'), new RegExp(`--root ${ctd.runcRoot}/${NS} `));

  await runtime.create('plain', BUSYBOX_REF, spec('plain'), {}, parent);
  const plain = await runtime.start('plain', 'plain');
  assert.ok(processAlive(plain.pid));
  assert.equal(runcBinaryOf((await cc.getContainer('plain', { namespace: NS })).runtime?.options), '');
  assert.deepEqual(await callsFor(log, 'plain'), [], 'a container created with runc never calls the wrapper');

  // Stopping and removing the wrapped one goes through the same binary (the shim keeps it with the task).
  await runtime.signal('wrapped', 9);
  assert.equal((await wrapped.exited).exitCode, 137);
  await runtime.remove('wrapped');
  await waitFor(async () => (await callsFor(log, 'wrapped')).includes('delete'), 10_000, 'the wrapper to delete the container');
  await runtime.signal('plain', 9);
  await plain.exited;
  await runtime.remove('plain');
  assert.deepEqual(await callsFor(log, 'plain'), []);
});
