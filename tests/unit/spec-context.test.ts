import { test } from 'node:test';
import assert from 'node:assert/strict';
import { specContextFactory, type SpecSettings } from '../../src/ocispec/context.js';
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

test('one factory: host facts fixed, settings read at every build, MCS only where given', () => {
  let settings: SpecSettings = { selinuxMode: 'auto', hostPathAllowList: ['/srv'] };
  const ctxFor = specContextFactory(HOST, () => settings, (u) => (u.class === 'workload' ? [3, 7] : undefined));
  const control = unit({ name: 'control', class: 'host', image: 'localhost/control:1' });
  const a = ctxFor(control, IMAGE);
  assert.equal(a.containerId, 'control');
  assert.equal(a.namespace, 'berth');
  assert.equal(a.runDir, '/run/berth');
  assert.deepEqual(a.hostCapabilities, HOST.hostCapabilities);
  assert.deepEqual(a.absentHostPaths, ['/lib/modules']);
  assert.equal(a.mcs, undefined);
  assert.deepEqual(a.hostPathAllowList, ['/srv']);
  assert.equal(a.imageConfig, IMAGE);

  settings = { selinuxMode: 'enforce', hostPathAllowList: ['/data'] };
  const b = ctxFor(control, IMAGE);
  assert.deepEqual(b.selinux, { mode: 'enforce', active: false });
  assert.deepEqual(b.hostPathAllowList, ['/data']);
});

test('workloads: the host capabilities are capped to workloads.allowed-capabilities, names normalised', () => {
  const ctxFor = specContextFactory(HOST, () => ({ selinuxMode: 'auto', hostPathAllowList: [], capabilityCap: ['net_admin', 'CAP_CHOWN', 'not-a-cap'] }), () => [3, 7]);
  const w = ctxFor(unit({ name: 'web', class: 'workload', image: 'localhost/app:1' }), IMAGE);
  assert.deepEqual(w.hostCapabilities, ['CAP_CHOWN', 'CAP_NET_ADMIN']);
  assert.deepEqual(w.mcs, [3, 7]);
  const none = specContextFactory(HOST, () => ({ selinuxMode: 'auto', hostPathAllowList: [], capabilityCap: [] }), () => [3, 7]);
  assert.deepEqual(none(unit({ name: 'web', class: 'workload', image: 'localhost/app:1' }), IMAGE).hostCapabilities, []);
});
