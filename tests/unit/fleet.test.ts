// The pure parts of src/fleet: what fleet.* settings mean, the fleet document → one change map (precedence
// of local values), the local-key bookkeeping, host records read from etcd.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fleetConfigOf, hostKey, settingsKey } from '../../src/fleet/config.js';
import { documentValues, isOverridable, planFleetChanges } from '../../src/fleet/fleet-document.js';
import { fleetStatePath, loadFleetState, saveFleetState, withLocalChange } from '../../src/fleet/local-state.js';
import { decodeRecord, encodeRecord, healthText, type HostRecord } from '../../src/fleet/record.js';
import { SettingsStore, fleetFamily } from '../../src/settings/index.js';

const plain = { etcd: { endpoints: ['http://127.0.0.1:2379'] }, group: 'g', localOverrides: [] };

describe('fleet config', () => {
  test('off without endpoints or group; the machine id is the default host id', () => {
    assert.deepEqual(fleetConfigOf({ etcd: { endpoints: [] }, group: 'g', localOverrides: [] }, () => 'm'), { kind: 'off' });
    assert.deepEqual(fleetConfigOf({ etcd: { endpoints: ['http://127.0.0.1:1'] }, localOverrides: [] }, () => 'm'), { kind: 'off' });
    const on = fleetConfigOf(plain, () => 'abc123');
    assert.equal(on.kind, 'on');
    assert.equal(on.kind === 'on' && on.config.hostId, 'abc123');
    const given = fleetConfigOf({ ...plain, hostId: 'h7' }, () => 'abc123');
    assert.equal(given.kind === 'on' && given.config.hostId, 'h7');
  });

  test('no machine id and no fleet.host-id is an error naming fleet.host-id', () => {
    const r = fleetConfigOf(plain, () => undefined);
    assert.equal(r.kind, 'error');
    assert.equal(r.kind === 'error' && r.key, 'fleet.host-id');
  });

  test('etcd keys', () => {
    assert.equal(hostKey('prod', 'h1'), '/berth/prod/hosts/h1');
    assert.equal(settingsKey('prod'), '/berth/prod/settings');
  });
});

describe('fleet.* in the settings store', () => {
  async function store(): Promise<{ s: SettingsStore; dir: string }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-settings-'));
    const defaults = path.join(dir, 'defaults.toml');
    await writeFile(defaults, '[settings.selinux]\nmode = "auto"\n');
    return { s: await SettingsStore.open({ stateDir: dir, defaultsFile: defaults }), dir };
  }

  test('plain http only to loopback; https needs ca, cert and key; refusals name the key', async () => {
    const { s, dir } = await store();
    try {
      await assert.rejects(s.set({ 'fleet.etcd.endpoints': 'http://10.1.2.3:2379' }), /fleet\.etcd\.endpoints.*only to loopback/);
      await assert.rejects(s.set({ 'fleet.etcd.endpoints': 'https://etcd.example:2379' }), (e: Error & { issues?: { key: string }[] }) => {
        assert.deepEqual(e.issues?.map((i) => i.key), ['fleet.etcd.ca', 'fleet.etcd.cert', 'fleet.etcd.key']);
        return true;
      });
      await assert.rejects(s.set({ 'fleet.local-overrides': 'selinux.nope' }), /fleet\.local-overrides.*selinux\.nope/);
      await s.set({ 'fleet.etcd.endpoints': 'https://etcd.example:2379', 'fleet.etcd.ca': '/a.pem', 'fleet.etcd.cert': '/b.pem', 'fleet.etcd.key': '/c.pem', 'fleet.group': 'g' });
      const f = s.family(fleetFamily);
      const r = fleetConfigOf(f, () => 'm');
      assert.deepEqual(r.kind === 'on' && r.config.tls, { ca: '/a.pem', cert: '/b.pem', key: '/c.pem' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('fleet settings document → one change map', () => {
  const doc = '[settings.images]\npull-policy = "always"\n[settings.selinux]\nmode = "off"\n';

  test('a bad document is refused whole, every bad key named', () => {
    const r = planFleetChanges({ document: '[settings.images]\npull-policy = "never"\n[settings.nope]\nx = 1\n', overrides: [], localKeys: new Set(), previousFleetKeys: [] });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : '', /images\.pull-policy/);
    assert.match(!r.ok ? r.error : '', /nope/);
    const syntax = planFleetChanges({ document: '[settings', overrides: [], localKeys: new Set(), previousFleetKeys: [] });
    assert.match(!syntax.ok ? syntax.error : '', /invalid TOML/);
  });

  test('host-only keys (where etcd is, the group, the host id) are refused in a fleet document', () => {
    const r = documentValues('[settings.fleet]\ngroup = "other"\n');
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : '', /fleet\.group: set on each host/);
    assert.equal(documentValues('[settings.fleet]\nlocal-overrides = ["selinux.mode"]\n').ok, true);
  });

  test('the fleet wins, except for locally set keys listed in fleet.local-overrides', () => {
    const none = planFleetChanges({ document: doc, overrides: [], localKeys: new Set(['images.pull-policy']), previousFleetKeys: [] });
    assert.deepEqual(none.ok && none.changes, { 'images.pull-policy': 'always', 'selinux.mode': 'off' });
    const listed = planFleetChanges({ document: doc, overrides: ['images'], localKeys: new Set(['images.pull-policy']), previousFleetKeys: [] });
    assert.deepEqual(listed.ok && listed.changes, { 'selinux.mode': 'off' });
    assert.deepEqual(listed.ok && listed.fleetKeys, ['images.pull-policy', 'selinux.mode']);
    // Listed but never set here: the fleet's value applies.
    const unset = planFleetChanges({ document: doc, overrides: ['images.pull-policy'], localKeys: new Set(), previousFleetKeys: [] });
    assert.deepEqual(unset.ok && unset.changes, { 'images.pull-policy': 'always', 'selinux.mode': 'off' });
  });

  test('keys the previous document set and this one does not are removed; a deleted document removes all', () => {
    const r = planFleetChanges({ document: '[settings.selinux]\nmode = "off"\n', overrides: [], localKeys: new Set(), previousFleetKeys: ['images.pull-policy', 'selinux.mode'] });
    assert.deepEqual(r.ok && r.changes, { 'selinux.mode': 'off', 'images.pull-policy': null });
    const gone = planFleetChanges({ document: undefined, overrides: [], localKeys: new Set(), previousFleetKeys: ['selinux.mode'] });
    assert.deepEqual(gone.ok && gone.changes, { 'selinux.mode': null });
  });

  test('isOverridable matches keys and prefixes on segment boundaries', () => {
    assert.ok(isOverridable('host-containers.admin.enabled', ['host-containers.admin']));
    assert.ok(isOverridable('selinux.mode', ['selinux.mode']));
    assert.ok(!isOverridable('host-containers.admin2.enabled', ['host-containers.admin']));
  });
});

describe('local keys and the fleet state file', () => {
  test('a set remembers the key; an unset forgets it and everything under a prefix', () => {
    let keys = withLocalChange(new Set(), [{ op: 'set', key: 'host-containers.a.enabled' }, { op: 'set', key: 'selinux.mode' }]);
    assert.deepEqual([...keys].sort(), ['host-containers.a.enabled', 'selinux.mode']);
    keys = withLocalChange(keys, [{ op: 'unset', key: 'host-containers.a' }]);
    assert.deepEqual([...keys], ['selinux.mode']);
  });

  test('saved atomically, loaded back; a foreign file is refused naming its path', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-state-'));
    try {
      assert.equal((await loadFleetState(dir)).appliedRevision, 0);
      await saveFleetState(dir, { localKeys: new Set(['b', 'a']), fleetKeys: ['x'], appliedRevision: 42 });
      const back = await loadFleetState(dir);
      assert.deepEqual([...back.localKeys], ['a', 'b']);
      assert.equal(back.appliedRevision, 42);
      assert.match(await readFile(fleetStatePath(dir), 'utf8'), /"appliedRevision": 42/);
      await writeFile(fleetStatePath(dir), '{"version": 9}');
      await assert.rejects(loadFleetState(dir), new RegExp(fleetStatePath(dir).replace(/[/.]/g, '\\$&')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('host records', () => {
  const rec: HostRecord = {
    hostId: 'h1', version: '1.2.3', updateState: 'idle', health: { units: 3, running: 2, failed: 1 }, slot: '',
    settingsRevision: 7, lastError: '', lastSeen: '2026-12-03T00:00:00.000Z',
  };

  test('round trip; the key names the host, not the record', () => {
    assert.deepEqual(decodeRecord('h1', encodeRecord(rec)), rec);
    assert.equal(decodeRecord('other', encodeRecord(rec)).hostId, 'other');
    assert.equal(healthText(rec.health), '2/3 running, 1 failed');
  });

  test('a malformed record still lists its host, with the problem as its error', () => {
    const bad = decodeRecord('h9', 'not json');
    assert.equal(bad.hostId, 'h9');
    assert.match(bad.lastError, /unreadable/);
    // Wrong types in one field do not lose the others.
    const partial = decodeRecord('h2', JSON.stringify({ ...rec, health: 'x', settingsRevision: -1 }));
    assert.equal(partial.version, '1.2.3');
    assert.equal(partial.settingsRevision, 0);
  });
});
