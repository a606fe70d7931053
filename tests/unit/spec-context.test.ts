import { test } from 'node:test';
import assert from 'node:assert/strict';
import { specContextFactory, specPlanner, type SpecSettings } from '../../src/ocispec/context.js';
import { finishSpec } from '../../src/ocispec/plan.js';
import { desiredState } from '../../src/desired/index.js';
import { validateUnit } from '../../src/units/index.js';
import type { UnitSpec } from '../../src/units/types.js';

const IMAGE = { env: [], entrypoint: ['/bin/sh'], cmd: [], workingDir: '', user: '' };
const HOST = {
  namespace: 'berth',
  stateDir: '/var/lib/berth',
  runDir: '/run/berth',
  apiSocketPath: '/run/berth/api.sock',
  selinuxActive: false,
  hostCapabilities: ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'],
  absentHostPaths: ['/lib/modules'],
};

function unit(raw: Record<string, unknown>): UnitSpec {
  const r = validateUnit(raw);
  assert.ok(r.ok, JSON.stringify(r));
  return r.unit;
}

test('one factory: host facts fixed, settings read at every plan, MCS only where given', () => {
  let settings: SpecSettings = { selinuxMode: 'auto', hostPathAllowList: ['/srv'] };
  const ctxFor = specContextFactory(HOST, () => settings, (u) => (u.class === 'workload' ? [3, 7] : undefined));
  const control = unit({ name: 'control', class: 'host', image: 'localhost/control:1' });
  const a = ctxFor(control);
  assert.equal(a.containerId, 'control');
  assert.equal(a.namespace, 'berth');
  assert.equal(a.runDir, '/run/berth');
  assert.deepEqual(a.hostCapabilities, HOST.hostCapabilities);
  assert.deepEqual(a.absentHostPaths, ['/lib/modules']);
  assert.equal(a.mcs, undefined);
  assert.deepEqual(a.hostPathAllowList, ['/srv']);
  assert.ok(!('imageConfig' in a), 'the image is a start-time fact, not part of the plan context');

  settings = { selinuxMode: 'enforce', hostPathAllowList: ['/data'] };
  const b = ctxFor(control);
  assert.deepEqual(b.selinux, { mode: 'enforce', active: false });
  assert.deepEqual(b.hostPathAllowList, ['/data']);
});

test('workloads: the host capabilities are capped to workloads.allowed-capabilities, names normalised', () => {
  const ctxFor = specContextFactory(HOST, () => ({ selinuxMode: 'auto', hostPathAllowList: [], capabilityCap: ['net_admin', 'CAP_CHOWN', 'not-a-cap'] }), () => [3, 7]);
  const w = ctxFor(unit({ name: 'web', class: 'workload', image: 'localhost/app:1' }));
  assert.deepEqual(w.hostCapabilities, ['CAP_CHOWN', 'CAP_NET_ADMIN']);
  assert.deepEqual(w.mcs, [3, 7]);
  const none = specContextFactory(HOST, () => ({ selinuxMode: 'auto', hostPathAllowList: [], capabilityCap: [] }), () => [3, 7]);
  assert.deepEqual(none(unit({ name: 'web', class: 'workload', image: 'localhost/app:1' })).hostCapabilities, []);
});

test('plan then finish: the image config and the settings of the commit reach the spec; a refused unit never builds', () => {
  let settings: SpecSettings = { selinuxMode: 'auto', hostPathAllowList: [] };
  const plan = specPlanner(specContextFactory(HOST, () => settings, () => undefined));
  const admin = unit({ name: 'admin', class: 'host', image: 'localhost/admin:1', 'user-data': Buffer.from('hi').toString('base64') });
  const p = plan(admin);
  assert.equal(p.refused, undefined);
  assert.deepEqual(p.hostDirs, [{ root: '/var/lib/berth/host-containers', path: '/var/lib/berth/host-containers/admin', userData: Buffer.from('hi').toString('base64') }]);
  const built = finishSpec(p, { image: { ...IMAGE, env: ['A=1'], cmd: ['-c', 'sleep 1'] } });
  assert.ok(built.ok);
  assert.deepEqual(built.spec.process.args, ['/bin/sh', '-c', 'sleep 1']);
  assert.ok(built.spec.process.env.includes('A=1'));
  // A plan keeps the settings of its moment: a later change is seen only by the next plan.
  settings = { selinuxMode: 'off', hostPathAllowList: [] };
  assert.equal(p.ctx.selinux.mode, 'auto');
  assert.equal(plan(admin).ctx.selinux.mode, 'off');

  const wl = unit({ name: 'w', class: 'workload', image: 'localhost/x:1', mounts: [{ type: 'bind', source: '/etc', destination: '/data', options: ['ro'] }] });
  const refused = specPlanner(specContextFactory(HOST, () => settings, () => [1, 2]))(wl);
  assert.ok(refused.refused?.some((e) => e.path === 'mounts[0].source'), JSON.stringify(refused.refused));
  const r = finishSpec(refused, { image: IMAGE });
  assert.ok(!r.ok);
});

test('desired state: planned units, what changed since the previous state, refusals named', () => {
  const plan = specPlanner(specContextFactory(HOST, () => ({ selinuxMode: 'auto', hostPathAllowList: [] }), () => undefined));
  const loaded = new Map([
    ['admin', unit({ name: 'admin', class: 'host', image: 'localhost/admin:1' })],
    ['control', unit({ name: 'control', class: 'host', image: 'localhost/control:1' })],
  ]);
  const hosts = (adminEnabled: boolean) => new Map([
    ['admin', { enabled: adminEnabled, source: 'localhost/admin:1', superpowered: true, rollout: {} }],
    ['control', { enabled: true, source: 'localhost/control:1', superpowered: false, rollout: {} }],
  ]);
  const first = desiredState(loaded, { hostContainers: hosts(false), bootstrapContainers: new Map() }, plan);
  assert.deepEqual(first.changed, ['admin', 'control']);
  assert.deepEqual(first.units.map((d) => [d.plan.unit.name, d.want]), [['admin', 'stopped'], ['control', 'running']]);
  assert.equal(first.units[0]!.plan.unit.superpowered, true, 'the setting overlays the unit file');
  const same = desiredState(loaded, { hostContainers: hosts(false), bootstrapContainers: new Map() }, plan, first);
  assert.deepEqual(same.changed, []);
  const enabled = desiredState(loaded, { hostContainers: hosts(true), bootstrapContainers: new Map() }, plan, same);
  assert.deepEqual(enabled.changed, ['admin']);
  const gone = desiredState(new Map([['admin', loaded.get('admin')!]]), { hostContainers: new Map([['admin', hosts(true).get('admin')!]]), bootstrapContainers: new Map() }, plan, enabled);
  assert.deepEqual(gone.changed, ['control']);
  assert.deepEqual(gone.refused, []);
});
