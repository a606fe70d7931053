// updates.reboot-strategy = fleetlock: berth's reboot coordinator speaking Fedora CoreOS's FleetLock protocol
// to a small FleetLock server written here (one lock per group, as airlock's default): pre-reboot before the
// reboot, steady-state only after a healthy boot; a host that came back on another version keeps the lock.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SettingsStore } from '../../src/settings/index.js';
import { RebootCoordinator } from '../../src/fleet/index.js';
import { loadPendingReboot } from '../../src/fleet/pending-reboot.js';
import { waitFor } from '../support/wait.js';

interface Call { path: string; protocolHeader: string | undefined; body: unknown }

/** A FleetLock server: one holder per group; 200 or 409 with the protocol's {kind, value} error body. */
async function fleetLockServer(): Promise<{ url: string; calls: Call[]; holders: Map<string, string>; close(): Promise<void> }> {
  const calls: Call[] = [];
  const holders = new Map<string, string>();
  const read = async (req: IncomingMessage): Promise<string> => {
    let s = '';
    for await (const c of req) s += String(c);
    return s;
  };
  const server: Server = createServer((req, res) => void read(req).then((text) => {
    const body = JSON.parse(text) as { client_params?: { id?: string; group?: string } };
    calls.push({ path: req.url ?? '', protocolHeader: req.headers['fleet-lock-protocol'] as string | undefined, body });
    const id = body.client_params?.id ?? '';
    const group = body.client_params?.group ?? '';
    const fail = (kind: string, value: string): void => void res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ kind, value }));
    if (req.method !== 'POST' || req.headers['fleet-lock-protocol'] !== 'true' || id === '') return fail('bad_request', 'not a FleetLock request');
    if (req.url === '/v1/pre-reboot') {
      const holder = holders.get(group);
      if (holder !== undefined && holder !== id) return fail('failed_lock', `semaphore full: held by ${holder}`);
      holders.set(group, id);
    } else if (req.url === '/v1/steady-state') {
      if (holders.get(group) === id) holders.delete(group);
    } else {
      return fail('bad_request', 'unknown path');
    }
    res.writeHead(200).end();
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    calls, holders,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function host(dir: string, id: string, url: string | undefined): Promise<{ coordinator: RebootCoordinator; store: SettingsStore; stateDir: string; reports: { state?: string; error?: string }[] }> {
  const stateDir = path.join(dir, id);
  const defaults = path.join(dir, 'defaults.toml');
  await writeFile(defaults, '[settings.selinux]\nmode = "auto"\n');
  const store = await SettingsStore.open({ stateDir, defaultsFile: defaults });
  await store.set({ 'fleet.group': 'workers', 'fleet.host-id': id });
  if (url) await store.set({ 'updates.reboot-strategy': 'fleetlock', 'updates.fleetlock-url': url });
  const reports: { state?: string; error?: string }[] = [];
  const coordinator = new RebootCoordinator({
    store, stateDir,
    fleet: { etcd: () => undefined, whenConnected: () => Promise.reject(new Error('no etcd here')), report: (f) => reports.push(f) },
    health: () => ({ units: 1, running: 1, failed: 0 }),
    log: { info: () => undefined, warn: () => undefined },
    machineId: () => undefined,
  });
  return { coordinator, store, stateDir, reports };
}

/** Hosts a and b of group `workers` against one FleetLock server; all of it removed when the test ends. */
async function twoHosts(t: TestContext) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-fleetlock-'));
  const server = await fleetLockServer();
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { server, a: await host(dir, 'a', server.url), b: await host(dir, 'b', server.url) };
}

test('fleetlock without updates.fleetlock-url is refused, naming the key', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-fleetlock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const h = await host(dir, 'a', undefined);
  await assert.rejects(h.store.set({ 'updates.reboot-strategy': 'fleetlock' }), /updates\.fleetlock-url: required when updates\.reboot-strategy = fleetlock/);
  await assert.rejects(h.store.set({ 'updates.reboot-strategy': 'locksmith' }), /updates\.reboot-strategy/);
  await assert.rejects(h.store.set({ 'updates.fleetlock-url': 'ftp://x' }), /updates\.fleetlock-url/);
});

test('pre-reboot before the reboot, steady-state after a healthy boot; a second host waits for the lock', async (t) => {
  const { server, a, b } = await twoHosts(t);
  await a.coordinator.beforeReboot({ from: '1.0.0', to: '2.0.0' });
  assert.deepEqual(server.calls[0], { path: '/v1/pre-reboot', protocolHeader: 'true', body: { client_params: { id: 'a', group: 'workers' } } });
  assert.equal(server.holders.get('workers'), 'a');
  assert.equal((await loadPendingReboot(a.stateDir))?.strategy, 'fleetlock', 'remembered across the reboot');

  let bGranted = false;
  const bWaits = b.coordinator.beforeReboot({ from: '1.0.0', to: '2.0.0' }).then(() => (bGranted = true));
  await waitFor(() => server.calls.some((c) => (c.body as { client_params: { id: string } }).client_params.id === 'b'), 5000, 'b to ask');
  assert.equal(bGranted, false, 'b waits while a holds the lock');

  // a "reboots" into 2.0.0 with its units running: steady-state gives the lock back, and b gets it.
  await a.coordinator.afterBoot('2.0.0');
  assert.ok(server.calls.some((c) => c.path === '/v1/steady-state' && (c.body as { client_params: { id: string } }).client_params.id === 'a'));
  assert.equal(await loadPendingReboot(a.stateDir), undefined);
  await bWaits;
  assert.equal(server.holders.get('workers'), 'b');

  // b comes back on its old version (rolled back): it keeps the lock and says why.
  await b.coordinator.afterBoot('1.0.0');
  assert.equal(server.holders.get('workers'), 'b');
  assert.ok(!server.calls.some((c) => c.path === '/v1/steady-state' && (c.body as { client_params: { id: string } }).client_params.id === 'b'));
  assert.match((await loadPendingReboot(b.stateDir))?.failed ?? '', /booted 1\.0\.0 instead of 2\.0\.0 \(rolled back\)/);
  assert.equal(b.reports.at(-1)?.state, 'failed');
});

test('a strategy without what it needs refuses the reboot as FAILED_PRECONDITION, naming the setting', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-fleetlock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const etcdless = await host(dir, 'c', undefined);
  await etcdless.store.set({ 'updates.reboot-strategy': 'etcd' });
  await assert.rejects(etcdless.coordinator.beforeReboot({ from: '1.0.0', to: '2.0.0' }), (e: Error & { code?: unknown }) => {
    assert.equal(e.code, 9);
    assert.match(e.message, /updates\.reboot-strategy = etcd needs a fleet: set fleet\.etcd\.endpoints/);
    return true;
  });
});

test('an operator\'s reboot waits for the lock only as long as it said: then refused (RESOURCE_EXHAUSTED) with nothing taken', async (t) => {
  const { server, a, b } = await twoHosts(t);
  await a.coordinator.beforeReboot({ from: '1.0.0', to: '2.0.0' });
  const t0 = Date.now();
  await assert.rejects(b.coordinator.beforeReboot({ from: '1.0.0', to: '2.0.0' }, { maxWaitMs: 700 }), (e: Error & { code?: unknown }) => {
    assert.equal(e.code, 8);
    assert.match(e.message, /^the FleetLock server at http:\/\/127\.0\.0\.1:\d+ granted no reboot lock to b in group workers after waiting 700 ms: .*failed_lock: semaphore full: held by a; nothing was taken/);
    return true;
  });
  assert.ok(Date.now() - t0 < 5000, 'answered within its wait');
  const asked = server.calls.filter((c) => (c.body as { client_params: { id: string } }).client_params.id === 'b').length;
  assert.ok(asked >= 2, `asked more than once while it waited (${asked})`);
  assert.equal(server.holders.get('workers'), 'a');
  assert.equal(await loadPendingReboot(b.stateDir), undefined, 'nothing remembered');
  assert.deepEqual(b.reports.at(-1)?.state, 'idle');
  assert.match(b.reports.at(-1)?.error ?? '', /^reboot refused: the FleetLock server/);
});
