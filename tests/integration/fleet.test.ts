// Issue 19, part 1: fleet membership and fleet-wide settings over a real 3-member etcd cluster, with four real
// berthd processes sharing one test containerd (own state and run dirs; h0 runs a unit, in its own
// namespace). Every check reads etcd itself (or `berthctl fleet status`), not berthd's logs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { TestEtcdCluster } from '../support/etcd.js';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { busyboxArchive } from '../support/images.js';
import { hostUnit, IDLE, waitUnit } from '../support/units.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { importArchive } from '../../src/images/import.js';
import { BerthClient } from '../../src/cli/client.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { LEASE_TTL_S, hostKey, hostsPrefix, settingsKey } from '../../src/fleet/index.js';

const GROUP = 'g1';
const NS0 = 'fleet0';
let etcd: TestEtcdCluster;
let ctd: TestContainerd;
let cc: ContainerdClient;
let kv: Etcd3;
const hosts: { id: string; b: TestBerthd; api: BerthClient }[] = [];

interface Rec {
  hostId: string;
  version: string;
  updateState: string;
  health: { units: number; running: number; failed: number };
  settingsRevision: number;
  lastError: string;
  lastSeen: string;
}

async function records(): Promise<Map<string, Rec>> {
  const all = await kv.getAll().prefix(hostsPrefix(GROUP)).strings();
  return new Map(Object.entries(all).map(([k, v]) => [k.slice(hostsPrefix(GROUP).length), JSON.parse(v) as Rec]));
}

async function putDocument(text: string): Promise<number> {
  await kv.put(settingsKey(GROUP)).value(text);
  const res = await kv.get(settingsKey(GROUP)).exec();
  return Number(res.kvs[0]!.mod_revision);
}

function host(id: string): { id: string; b: TestBerthd; api: BerthClient } {
  const h = hosts.find((x) => x.id === id);
  assert.ok(h, id);
  return h;
}

before(async () => {
  etcd = await TestEtcdCluster.start();
  kv = new Etcd3({ hosts: etcd.endpoints });
  ctd = await TestContainerd.start();
  cc = ctd.client(NS0);
  await importArchive(cc, await busyboxArchive(), { namespace: NS0 });
  for (let i = 0; i < 4; i++) {
    const id = `h${i}`;
    const b = await TestBerthd.create({
      containerd: ctd,
      units: i === 0 ? { sleeper: hostUnit('sleeper', IDLE) } : {},
      extraArgs: ['--namespace', i === 0 ? NS0 : `fleet${i}`],
    });
    await b.start();
    const api = BerthClient.connect({ socketPath: b.socket });
    hosts.push({ id, b, api });
    await api.settings.set({ 'fleet.etcd.endpoints': etcd.endpoints.join(','), 'fleet.group': GROUP, 'fleet.host-id': id });
  }
});

after(async () => {
  for (const h of hosts) {
    h.api.close();
    await h.b.stop();
  }
  kv?.close();
  cc?.close();
  await ctd?.stop();
  await etcd?.stop();
});

test('every berthd registers a record under its lease; berthctl fleet status lists them', async () => {
  await waitFor(async () => (await records()).size === 4, 20_000, 'four host records');
  await waitUnit(host('h0').api, 'sleeper', (u) => u.state === 'running', 20_000, 'sleeper running');
  await waitFor(async () => (await records()).get('h0')?.health.running === 1, 10_000, "h0's record to show its running unit");
  const r = (await records()).get('h1')!;
  assert.equal(r.updateState, 'idle');
  assert.match(r.version, /^\d+\.\d+\.\d+/);
  // A lease, not a plain key: etcd reports the key's lease id.
  const raw = await kv.get(hostKey(GROUP, 'h1')).exec();
  assert.notEqual(String(raw.kvs[0]!.lease), '0', 'the record is attached to a lease');

  const out = await runCli(['--socket', host('h2').b.socket, 'fleet', 'status', '-o', 'json']);
  assert.equal(out.code, 0, out.stderr);
  const status = JSON.parse(out.stdout) as { group: string; hosts: { hostId: string; health: { running: number } }[] };
  assert.equal(status.group, GROUP);
  assert.deepEqual(status.hosts.map((h) => h.hostId), ['h0', 'h1', 'h2', 'h3']);
  assert.equal(status.hosts[0]!.health.running, 1);
  const table = await runCli(['--socket', host('h2').b.socket, 'fleet', 'status', '--group', GROUP]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^HOST\s+VERSION\s+STATE\s+HEALTH\s+SLOT\s+SETTINGS\s+LAST SEEN\s+LAST ERROR/);
  assert.match(table.stdout, /\nh0\s+\S+\s+idle\s+1\/1 running/);
});

test('a fleet document with one invalid key is applied by no host, and each reports the error naming the key', async () => {
  const rev = await putDocument('[settings.images]\npull-policy = "always"\n[settings.selinux]\nmode = "sometimes"\n');
  await waitFor(async () => [...(await records()).values()].every((r) => r.lastError.includes(`revision ${rev}`)), 20_000, 'every host to report the refusal');
  for (const [id, r] of await records()) {
    assert.match(r.lastError, /selinux\.mode/, id);
    assert.equal(r.settingsRevision, 0, id);
  }
  // Nothing set: no key of the document, not even its valid one, reached any host.
  for (const h of hosts) assert.deepEqual(await h.api.settings.get('images'), {}, h.id);
});

test('a valid document is applied by every host; fleet status shows its revision', async () => {
  const rev = await putDocument('[settings.images]\npull-policy = "always"\n[settings.workloads]\nrequire-memory-limit = true\n');
  await waitFor(async () => [...(await records()).values()].every((r) => r.settingsRevision === rev && r.lastError === ''), 20_000, `every host at revision ${rev}`);
  for (const h of hosts) {
    const flat = (await h.api.settings.get()) as { images: { 'pull-policy': string }; workloads: { 'require-memory-limit': boolean } };
    assert.equal(flat.images['pull-policy'], 'always', h.id);
    assert.equal(flat.workloads['require-memory-limit'], true, h.id);
  }
  const out = await runCli(['--socket', host('h0').b.socket, 'fleet', 'status', '-o', 'json']);
  const status = JSON.parse(out.stdout) as { hosts: { hostId: string; settingsRevision: number }[] };
  assert.deepEqual(status.hosts.map((h) => h.settingsRevision), [rev, rev, rev, rev]);
});

test('local values win only where fleet.local-overrides lists the key', async () => {
  const h1 = host('h1').api;
  const h2 = host('h2').api;
  // h2: the fleet owns images.pull-policy; a local set is refused, naming the key.
  await assert.rejects(h2.settings.set({ 'images.pull-policy': 'if-not-present' }), /images\.pull-policy: set by fleet group g1/);
  // h1 lists it: its local value is kept, now and when the fleet sends a new document.
  await h1.settings.set({ 'fleet.local-overrides': 'images.pull-policy' });
  await h1.settings.set({ 'images.pull-policy': 'if-not-present' });
  const rev = await putDocument('[settings.images]\npull-policy = "always"\npull-timeout = "20m"\n');
  await waitFor(async () => [...(await records()).values()].every((r) => r.settingsRevision === rev), 20_000, `every host at revision ${rev}`);
  const g1 = (await h1.settings.get('images')) as { images: Record<string, string> };
  const g2 = (await h2.settings.get('images')) as { images: Record<string, string> };
  assert.equal(g1.images['pull-policy'], 'if-not-present', 'h1 keeps its local value');
  assert.equal(g1.images['pull-timeout'], '20m', 'h1 takes the rest of the document');
  assert.equal(g2.images['pull-policy'], 'always');
  // The document dropped workloads.require-memory-limit: it is removed (back to its default) everywhere.
  for (const h of hosts.slice(0, 3)) assert.deepEqual(await h.api.settings.get('workloads'), {}, h.id);
});

async function leases(): Promise<Map<string, string>> {
  const res = await kv.getAll().prefix(hostsPrefix(GROUP)).exec();
  return new Map(res.kvs.map((k) => [k.key.toString().slice(hostsPrefix(GROUP).length), String(k.lease)]));
}

test('SIGKILL of the etcd leader, then every lease expired: every host registers again, nothing restarts', async () => {
  const pids = hosts.map((h) => h.b.pid);
  const unitPid = (await host('h0').api.units.get('sleeper')).pid;
  const leader = await etcd.leader();
  await etcd.kill(leader);
  const next = await etcd.leader();
  assert.notEqual(next.name, leader.name);
  // What an outage longer than the TTL does to a lease, done at once: etcd drops every host's lease and
  // with it the record. Each berthd learns it from its next keepalive and must register again by itself.
  const before = await leases();
  assert.equal(before.size, 4);
  for (const id of new Set(before.values())) await kv.leaseClient.leaseRevoke({ ID: id });
  await waitFor(async () => {
    const now = await leases();
    return now.size === 4 && [...now].every(([host, lease]) => lease !== before.get(host));
  }, LEASE_TTL_S * 3000, 'every host registered again under a new lease');
  assert.deepEqual(hosts.map((h) => h.b.pid), pids, 'no berthd restarted');
  assert.equal((await host('h0').api.units.get('sleeper')).pid, unitPid, 'the unit kept running');
  await etcd.restart(leader);
});

test('an outage of the whole etcd cluster longer than the lease: every host registers again after it, nothing restarts', async () => {
  const pids = hosts.map((h) => h.b.pid);
  const unitPid = (await host('h0').api.units.get('sleeper')).pid;
  const before = await leases();
  const logged = hosts.map((h) => h.b.log().split('fleet: lease lost').length);
  for (const m of etcd.members) await etcd.kill(m);
  // Each berthd gives its lease up once no keepalive has reached etcd for two TTLs (what etcd3's client does).
  await waitFor(() => hosts.every((h, i) => h.b.log().split('fleet: lease lost').length > logged[i]!), LEASE_TTL_S * 4000, 'every berthd to notice its lease is lost');
  await etcd.restartAll();
  await waitFor(async () => {
    const now = await leases();
    return now.size === 4 && [...now].every(([id, lease]) => lease !== before.get(id));
  }, LEASE_TTL_S * 3000, 'every host registered again under a new lease');
  assert.deepEqual(hosts.map((h) => h.b.pid), pids, 'no berthd restarted');
  assert.equal((await host('h0').api.units.get('sleeper')).pid, unitPid, 'the unit kept running');
});

test('a SIGKILLed berthd drops out of the fleet when its lease expires; the others stay', async () => {
  const h3 = host('h3');
  await h3.b.kill();
  const killedAt = Date.now();
  await waitFor(async () => !(await records()).has('h3'), LEASE_TTL_S * 3000, "h3's record to expire with its lease");
  const after = Date.now() - killedAt;
  assert.ok(after > 1000, `gone after ${after} ms: by the lease, not at once`);
  assert.deepEqual([...(await records()).keys()].sort(), ['h0', 'h1', 'h2']);
});

test('turning the fleet settings off deregisters at once', async () => {
  await host('h2').api.settings.setJson('{"fleet.group": null}');
  await waitFor(async () => !(await records()).has('h2'), 5000, "h2's record to be removed");
  const out = await runCli(['--socket', host('h2').b.socket, 'fleet', 'status']);
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /fleet\.etcd\.endpoints: this host is in no fleet/);
});
