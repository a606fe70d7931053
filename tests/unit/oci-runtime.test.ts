// oci-runtime.binary: the setting's rule, and the OCI runtime binary as containerd's runc v2 shim reads it
// (containerd.runc.v1.Options.binary_name) on every container and task berth creates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runcBinaryOf, runcOptions, runcRootOf } from '../../src/containerd/runc-root.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { decodeProtoAny, RUNC_OPTIONS_TYPE_URL } from '../../src/containerd/codec.js';
import { ContainerdRuntime } from '../../src/runtime/containerd-runtime.js';
import { ociRuntimeFamily, SettingsError, SettingsStore } from '../../src/settings/index.js';
import { ociRuntimeBinaryProblem } from '../../src/settings/families/oci-runtime.js';
import { fileURLToPath } from 'node:url';
import { fakeClient } from '../support/lifecycle-client.js';

const SHIPPED_DEFAULTS = fileURLToPath(new URL('../../../rootfs/usr/share/berth/settings.toml', import.meta.url));

test('runcOptions: binary_name (field 6) only when a binary is named; root unchanged beside it', () => {
  const plain = runcOptions('/run/berth/runc');
  assert.equal(decodeProtoAny(plain)?.binary_name, '');
  assert.deepEqual(Buffer.from(runcOptions('/run/berth/runc', '').value), Buffer.from(plain.value));
  const root = Buffer.from('/run/berth/runc');
  assert.deepEqual(Buffer.from(plain.value), Buffer.concat([Buffer.from([0x3a, root.length]), root]), 'no binary_name bytes for runc');

  const crun = runcOptions('/run/berth/runc', 'crun');
  assert.equal(crun.type_url, RUNC_OPTIONS_TYPE_URL);
  // tag (6 << 3 | wire type 2) = 0x32, length 4, "crun": the shim's Go type reads it as Options.BinaryName.
  assert.ok(Buffer.from(crun.value).includes(Buffer.from([0x32, 4, ...Buffer.from('crun')])), Buffer.from(crun.value).toString('hex'));
  assert.equal(runcBinaryOf(crun), 'crun');
  assert.equal(runcRootOf(crun), '/run/berth/runc');
  assert.equal(runcBinaryOf(runcOptions('/r', '/opt/bin/crun')), '/opt/bin/crun');
});

test('runcBinaryOf: empty (the shim\'s runc) without options, with empty ones, or ones of another type', () => {
  assert.equal(runcBinaryOf(runcOptions('/run/berth/runc')), '');
  assert.equal(runcBinaryOf(null), '');
  assert.equal(runcBinaryOf(undefined), '');
  assert.equal(runcBinaryOf({ type_url: RUNC_OPTIONS_TYPE_URL, value: Buffer.alloc(0) }), '');
  assert.equal(runcBinaryOf({ type_url: 'something.Else', value: Buffer.from([0x32, 1, 0x41]) }), '');
});

test('ContainerLifecycle: a container created with crun keeps it on its first task and on a re-created one', async () => {
  const { client, containers, taskOptions } = fakeClient();
  const lc = new ContainerLifecycle(client, 'berth', '/run/berth/runc');
  const { mounts } = await lc.create({ id: 'c1', image: 'localhost/app:1', spec: {}, parent: 'sha256:top', runtimeBinary: 'crun' });
  assert.equal(runcBinaryOf(containers.get('c1')!.runtime!.options), 'crun');
  await lc.createTask('c1', { kind: 'null' }, mounts, 'crun'); // the start right after create
  await lc.createTask('c1', { kind: 'null' }); // a restart: the binary recorded in the container
  // One made by runc (or by a berth before this setting) stays on runc.
  await lc.create({ id: 'c2', image: 'localhost/app:1', spec: {}, parent: 'sha256:top' });
  await lc.createTask('c2', { kind: 'null' });
  assert.deepEqual(taskOptions.map((o) => runcBinaryOf(o)), ['crun', 'crun', '']);
  assert.deepEqual(taskOptions.map((o) => runcRootOf(o)), ['/run/berth/runc', '/run/berth/runc', '/run/berth/runc']);
});

test('ContainerdRuntime: the setting is read at each create; a change applies to containers created after it', async (t) => {
  const { client, containers } = fakeClient();
  const fifo = await mkdtemp(path.join(tmpdir(), 'berth-oci-'));
  t.after(() => rm(fifo, { recursive: true, force: true }));
  let setting = 'runc';
  const images = { ensure: () => Promise.reject(new Error('not here')), forget: () => undefined };
  const runtime = new ContainerdRuntime(client, 'berth', { fifo, runc: '/run/berth/runc' }, { attach: () => undefined }, images, () => setting);
  await runtime.create('a', 'localhost/app:1', {} as never, {}, 'sha256:top');
  setting = 'crun';
  await runtime.create('b', 'localhost/app:1', {} as never, {}, 'sha256:top');
  setting = '/opt/crun/bin/crun';
  await runtime.create('c', 'localhost/app:1', {} as never, {}, 'sha256:top');
  assert.deepEqual(['a', 'b', 'c'].map((id) => runcBinaryOf(containers.get(id)!.runtime!.options)), ['', 'crun', '/opt/crun/bin/crun']);
  // runc is the shim's default: its options are the bytes berth sent before the setting existed.
  assert.deepEqual(Buffer.from(containers.get('a')!.runtime!.options!.value), Buffer.from(runcOptions('/run/berth/runc').value));
});

test('oci-runtime.binary: runc by default; runc, crun or an absolute path; anything else refused naming the key', async (t) => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'berth-oci-settings-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const store = await SettingsStore.open({ stateDir, defaultsFile: SHIPPED_DEFAULTS });
  assert.equal(store.family(ociRuntimeFamily).binary, 'runc');
  await store.set({ 'oci-runtime.binary': 'crun' });
  assert.equal(store.family(ociRuntimeFamily).binary, 'crun');
  await store.set({ 'oci-runtime.binary': '/usr/local/bin/crun' });
  assert.equal(store.family(ociRuntimeFamily).binary, '/usr/local/bin/crun');
  for (const bad of ['youki', 'crun ', 'bin/crun', '/usr/bin/../crun', '/']) {
    await assert.rejects(store.set({ 'oci-runtime.binary': bad }), (e: unknown) => {
      assert.ok(e instanceof SettingsError);
      assert.match(e.message, /^oci-runtime\.binary: /);
      assert.ok(e.message.includes(JSON.stringify(bad)), e.message);
      return true;
    });
  }
  assert.equal(store.family(ociRuntimeFamily).binary, '/usr/local/bin/crun', 'a refused value changes nothing');
  assert.match(ociRuntimeBinaryProblem('youki') ?? '', /expected runc or crun, or an absolute path/);
  assert.equal(ociRuntimeBinaryProblem('crun'), undefined);
});
