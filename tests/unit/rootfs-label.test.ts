// The SELinux mount label on the rootfs mounts berth passes to Tasks.Create (issue 14, item 8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contextOption, specMountLabel, withRootfsMountLabel } from '../../src/containerd/rootfs-label.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import type { Container, Mount } from '../../src/containerd/types.js';
import { parseUnit, formatUnitError } from '../../src/units/index.js';
import { buildSpec, type SpecContext } from '../../src/ocispec/index.js';

const SNAP = '/var/lib/berth/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots';
// What containerd's overlayfs snapshotter returns for an active snapshot on top of image layers.
const OVERLAY: Mount = {
  type: 'overlay',
  source: 'overlay',
  options: ['index=off', `workdir=${SNAP}/9/work`, `upperdir=${SNAP}/9/fs`, `lowerdir=${SNAP}/2/fs:${SNAP}/1/fs`],
};
// ...and for a snapshot with no parent: a bind mount, which makes no superblock to label.
const BIND: Mount = { type: 'bind', source: `${SNAP}/3/fs`, options: ['rw', 'rbind'] };
const WL = 'system_u:object_r:container_file_t:s0:c12,c700';

test('no mount label (SELinux not applied): the mounts are exactly the snapshotter\'s', () => {
  for (const label of [undefined, '']) {
    assert.deepEqual(withRootfsMountLabel([OVERLAY, BIND], label), [OVERLAY, BIND]);
  }
});

test('a mount label becomes a quoted context= option on the overlay (MCS commas stay inside the quotes)', () => {
  const [m] = withRootfsMountLabel([OVERLAY], WL);
  assert.deepEqual(m, { ...OVERLAY, options: [...OVERLAY.options, `context="${WL}"`] });
  // The kernel splits the data at commas outside quotes: exactly one context option, the whole label.
  const data = m!.options.join(',');
  const parts = data.match(/(?:[^,"]|"[^"]*")+/g) ?? [];
  assert.deepEqual(parts.filter((p) => p.startsWith('context=')), [`context="${WL}"`]);
});

test('host containers: their secret_t mount label', () => {
  const [m] = withRootfsMountLabel([OVERLAY], 'system_u:object_r:secret_t:s0');
  assert.equal(m!.options.at(-1), 'context="system_u:object_r:secret_t:s0"');
});

test('bind mounts are left alone (the kernel ignores data on a bind: a context= there would label nothing)', () => {
  assert.deepEqual(withRootfsMountLabel([BIND], WL), [BIND]);
});

test('an SELinux context option already there is replaced, never doubled (the kernel refuses two)', () => {
  const withOld: Mount = { ...OVERLAY, options: [...OVERLAY.options, 'context="system_u:object_r:container_ro_file_t:s0"', 'defcontext=system_u:object_r:foo_t:s0'] };
  const [m] = withRootfsMountLabel([withOld], WL);
  assert.deepEqual(m!.options, [...OVERLAY.options, `context="${WL}"`]);
});

test('pure: the input mounts are not modified', () => {
  const input: Mount[] = [{ ...OVERLAY, options: [...OVERLAY.options] }];
  const before = structuredClone(input);
  const out = withRootfsMountLabel(input, WL);
  assert.deepEqual(input, before);
  assert.notEqual(out[0]!.options, input[0]!.options);
});

test('a label that would break the option string is refused', () => {
  for (const bad of ['a"b', 'system_u:object_r:x_t:s0 rw', 'x\ny']) {
    assert.throws(() => contextOption(bad), /not a usable SELinux mount label/);
  }
});

test('specMountLabel reads linux.mountLabel and nothing else', () => {
  assert.equal(specMountLabel({ linux: { mountLabel: WL } }), WL);
  assert.equal(specMountLabel({ linux: { mountLabel: '' } }), undefined);
  assert.equal(specMountLabel({ linux: {} }), undefined);
  assert.equal(specMountLabel({ process: { selinuxLabel: 'x' } }), undefined);
  assert.equal(specMountLabel(undefined), undefined);
  assert.equal(specMountLabel('spec'), undefined);
});

function ctx(selinux: SpecContext['selinux']): SpecContext {
  return {
    containerId: 'demo', namespace: 'berth', stateDir: '/var/lib/berth', apiSocketPath: '/run/berth/api.sock', selinux,
    mcs: [12, 700], hostPathAllowList: [],
    imageConfig: { env: [], entrypoint: ['/entry'], cmd: [], workingDir: '/', user: '' },
  };
}
function specFor(text: string, selinux: SpecContext['selinux']): object {
  const u = parseUnit(text, 'demo.toml');
  assert.ok(u.ok, u.ok ? '' : u.errors.map(formatUnitError).join('\n'));
  const r = buildSpec(u.unit, ctx(selinux));
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatUnitError).join('\n'));
  return r.spec;
}
const WORKLOAD = 'name = "demo"\nclass = "workload"\nimage = "registry.example.com/app:1"\n';
const HOST = 'name = "demo"\nclass = "host"\nimage = "localhost/berth/demo:1"\n';

test('from built specs: each class gets its own rootfs label when SELinux applies, none when it does not', () => {
  const on = { mode: 'auto', active: true } as const;
  assert.equal(specMountLabel(specFor(WORKLOAD, on)), WL);
  assert.equal(specMountLabel(specFor(HOST, on)), 'system_u:object_r:secret_t:s0');
  assert.equal(specMountLabel(specFor(`${HOST}superpowered = true\n`, on)), 'system_u:object_r:secret_t:s0');
  for (const off of [{ mode: 'auto', active: false }, { mode: 'off', active: true }] as const) {
    assert.equal(specMountLabel(specFor(WORKLOAD, off)), undefined);
    assert.deepEqual(withRootfsMountLabel([OVERLAY], specMountLabel(specFor(WORKLOAD, off))), [OVERLAY]);
  }
});

/** Just the client calls ContainerLifecycle makes for create + createTask; records Tasks.Create's rootfs. */
function fakeClient(): { client: ContainerdClient; rootfs: Mount[][] } {
  const containers = new Map<string, Container>();
  const rootfs: Mount[][] = [];
  const fake = {
    namespace: 'berth',
    async createContainer(c: Omit<Container, 'created_at' | 'updated_at'>): Promise<Container> {
      containers.set(c.id, c);
      return c;
    },
    async prepareSnapshot(): Promise<Mount[]> {
      return [structuredClone(OVERLAY)];
    },
    async snapshotMounts(): Promise<Mount[]> {
      return [structuredClone(OVERLAY)];
    },
    async getContainer(id: string): Promise<Container> {
      const c = containers.get(id);
      if (!c) throw new Error(`no container ${id}`);
      return c;
    },
    async createTask(req: { rootfs: Mount[] }): Promise<number> {
      rootfs.push(req.rootfs);
      return 4242;
    },
  };
  return { client: fake as unknown as ContainerdClient, rootfs };
}

test('ContainerLifecycle: Tasks.Create gets the labelled rootfs, from create()\'s mounts and from the stored spec alike', async () => {
  const { client, rootfs } = fakeClient();
  const lc = new ContainerLifecycle(client, 'berth', '/run/berth/runc');
  const spec = { ociVersion: '1.1.0', linux: { mountLabel: WL } };
  const { mounts } = await lc.create({ id: 'wl', image: 'localhost/app:1', spec, parent: 'sha256:top' });
  assert.equal(mounts[0]!.options.at(-1), `context="${WL}"`);
  await lc.createTask('wl', { kind: 'null' }, mounts); // first start: create()'s mounts
  await lc.createTask('wl', { kind: 'null' }); // a restart: mounts looked up again, label from the stored spec
  assert.equal(rootfs.length, 2);
  for (const r of rootfs) assert.deepEqual(r[0]!.options.filter((o) => o.startsWith('context=')), [`context="${WL}"`]);
});

test('ContainerLifecycle: a spec without a mount label (SELinux off) leaves Tasks.Create\'s rootfs as the snapshotter gave it', async () => {
  const { client, rootfs } = fakeClient();
  const lc = new ContainerLifecycle(client, 'berth', '/run/berth/runc');
  const { mounts } = await lc.create({ id: 'c', image: 'localhost/app:1', spec: { ociVersion: '1.1.0', linux: {} }, parent: 'sha256:top' });
  await lc.createTask('c', { kind: 'null' }, mounts);
  await lc.createTask('c', { kind: 'null' });
  assert.deepEqual(rootfs, [[OVERLAY], [OVERLAY]]);
});
