import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUNC_ROOT, runcOptions, runcRootOf, runcStateDir } from '../../src/containerd/runc-root.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { RUNC_OPTIONS_TYPE_URL } from '../../src/containerd/codec.js';
import { containerdRuntimeDirs } from '../../src/runtime/containerd-runtime.js';
import { fakeClient } from '../support/lifecycle-client.js';

test('runcOptions: containerd.runc.v1.Options with only `root` (field 7, length-delimited) set', () => {
  const any = runcOptions('/run/berth/runc');
  assert.equal(any.type_url, 'containerd.runc.v1.Options');
  const root = Buffer.from('/run/berth/runc');
  // tag (7 << 3 | wire type 2) = 0x3a, length, bytes: the shim's Go type reads exactly this as Options.Root.
  assert.deepEqual(Buffer.from(any.value), Buffer.concat([Buffer.from([0x3a, root.length]), root]));
});

test('runcOptions: a relative root is refused, naming it', () => {
  assert.throws(() => runcOptions('run/runc'), /runc root must be an absolute path, got "run\/runc"/);
});

test('runcRootOf: the recorded root; containerd\'s default when none is recorded (containers of an older berth)', () => {
  assert.equal(runcRootOf(runcOptions('/tmp/x/run/runc/')), '/tmp/x/run/runc/');
  assert.equal(runcRootOf(runcOptions('/a//b/../c')), '/a/c');
  assert.equal(runcRootOf(null), DEFAULT_RUNC_ROOT);
  assert.equal(runcRootOf({ type_url: RUNC_OPTIONS_TYPE_URL, value: Buffer.alloc(0) }), DEFAULT_RUNC_ROOT);
  assert.equal(runcRootOf({ type_url: 'something.Else', value: Buffer.from([0x3a, 1, 0x41]) }), DEFAULT_RUNC_ROOT);
  assert.equal(DEFAULT_RUNC_ROOT, '/run/containerd/runc');
  assert.equal(runcStateDir('/run/berth/runc', 'berth', 'control'), '/run/berth/runc/berth/control');
});

test('ContainerLifecycle: the container record and every Tasks.Create carry the lifecycle\'s runc root', async () => {
  const { client, containers, taskOptions } = fakeClient();
  const lc = new ContainerLifecycle(client, 'berth', '/run/berth/runc');
  const { mounts } = await lc.create({ id: 'control', image: 'localhost/app:1', spec: {}, parent: 'sha256:top' });
  assert.equal(runcRootOf(containers.get('control')!.runtime!.options), '/run/berth/runc');
  await lc.createTask('control', { kind: 'null' }, mounts);
  await lc.createTask('control', { kind: 'null' }); // a restart
  // A container recorded by an older berth (empty options) gets the root on its next task as well.
  containers.set('old', { ...containers.get('control')!, id: 'old', runtime: { name: 'io.containerd.runc.v2', options: { type_url: RUNC_OPTIONS_TYPE_URL, value: Buffer.alloc(0) } } });
  await lc.createTask('old', { kind: 'null' });
  assert.deepEqual(taskOptions.map((o) => runcRootOf(o)), ['/run/berth/runc', '/run/berth/runc', '/run/berth/runc']);
});

test('ContainerLifecycle without a runc root refuses to create (it may still inspect and remove)', async () => {
  const { client, containers, taskOptions } = fakeClient();
  const lc = new ContainerLifecycle(client, 'berth');
  await assert.rejects(lc.create({ id: 'c', image: 'localhost/app:1', spec: {}, parent: 'sha256:top' }), /ContainerLifecycle\(berth\) has no runc root/);
  await assert.rejects(lc.createTask('c', { kind: 'null' }, []), /has no runc root/);
  assert.equal(containers.size, 0);
  assert.equal(taskOptions.length, 0);
});

test('containerdRuntimeDirs: FIFOs and runc state under the run dir, absolute even for a relative --run-dir', () => {
  assert.deepEqual(containerdRuntimeDirs('/run/berth'), { fifo: '/run/berth/fifo', runc: '/run/berth/runc' });
  assert.equal(containerdRuntimeDirs('rel/run').runc, `${process.cwd()}/rel/run/runc`);
});
