// Regression tests for the defects the chaos suite (bench/chaos) found in berthd, each against a real berthd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { busyboxArchive } from '../support/images.js';
import { hostUnit, waitUnit, IDLE } from '../support/units.js';
import { importArchive } from '../../src/images/import.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { berthService } from '../../src/wire/proto.js';
import { ApiError, BerthClient } from '../../src/cli/client.js';

let ctd: TestContainerd;
let b: TestBerthd;
let c: BerthClient;

before(async () => {
  ctd = await TestContainerd.start();
  await importArchive(ctd.client('berth'), await busyboxArchive(), { namespace: 'berth' });
  b = await TestBerthd.create({ containerd: ctd, units: { idle: hostUnit('idle', IDLE), off: hostUnit('off', IDLE) } });
  await b.start(60_000);
  c = BerthClient.connect({ socketPath: b.socket });
});
after(async () => {
  c?.close();
  await b?.stop();
  const cc = ctd.client('berth');
  for (const x of await cc.listContainers([], { namespace: 'berth' }).catch(() => [])) await new ContainerLifecycle(cc, 'berth').remove(x.id).catch(() => undefined);
  cc.close();
  await ctd?.stop();
});

async function refused(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof ApiError, `expected a refusal, got ${String(e)}`);
  return e;
}

async function stillServing(): Promise<void> {
  assert.equal(b.child?.exitCode, null);
  await c.host.version({ timeoutMs: 10_000 });
}

test('Images.Import of a missing file: INVALID_ARGUMENT naming path, and berthd lives (was: crash)', async () => {
  const e = await refused(c.images.import('/nonexistent/archive.tar', 'x', { timeoutMs: 20_000 }));
  assert.equal(e.codeName, 'INVALID_ARGUMENT');
  assert.match(e.message, /^path: .*ENOENT/);
  const dir = await refused(c.images.import('/', undefined, { timeoutMs: 20_000 }));
  assert.match(dir.message, /^path: /);
  const nul = await refused(c.images.import('/etc/passwd\0x', undefined, { timeoutMs: 20_000 }));
  assert.equal(nul.codeName, 'INVALID_ARGUMENT');
  assert.match(nul.message, /^path: /);
  await stillServing();
});

test('an error quoting a lone UTF-16 surrogate does not kill berthd (was: URIError in grpc-js)', async () => {
  const e = await refused(c.settings.apply('\uD806', 'json', { timeoutMs: 10_000 }));
  assert.equal(e.codeName, 'INVALID_ARGUMENT');
  await stillServing();
});

test('an error quoting a 1 MiB name completes at once (was: a hang until the deadline)', async () => {
  const t0 = Date.now();
  const e = await refused(c.workloads.get('A'.repeat(1 << 20), { timeoutMs: 15_000 }));
  assert.equal(e.codeName, 'NOT_FOUND');
  assert.ok(Date.now() - t0 < 10_000);
  await stillServing();
});

test('settings rejections about no key name the request field', async () => {
  assert.match((await refused(c.settings.setJson('not json'))).message, /^json: invalid JSON/);
  assert.match((await refused(c.settings.setJson('false'))).message, /^json: /);
  assert.match((await refused(c.settings.commit('nothing-staged'))).message, /^tx: /);
  assert.match((await refused(c.settings.stage('bad name!', { 'selinux.mode': 'permissive' }))).message, /^tx: /);
  assert.match((await refused(c.settings.set({}))).message, /^values: /);
});

test('exec: a unit that is not running is FAILED_PRECONDITION, an empty or missing program INVALID_ARGUMENT naming args[0]', async () => {
  await c.units.stop('off');
  const run = async (unit: string, args: string[]): Promise<ApiError> => {
    const h = c.units.exec({ unit, args, tty: false });
    h.stdin.end();
    return refused(h.exitCode);
  };
  assert.equal((await run('off', ['/bin/true'])).codeName, 'FAILED_PRECONDITION');
  const empty = await run('idle', ['']);
  assert.equal(empty.codeName, 'INVALID_ARGUMENT');
  assert.match(empty.message, /^args\[0\]: /);
  const missing = await run('idle', ['/no/such/program']);
  assert.equal(missing.codeName, 'INVALID_ARGUMENT');
  assert.match(missing.message, /^args\[0\]: /);
  await stillServing();
});

test('raw undecodable request bytes are refused without harm', async () => {
  const def = berthService('Settings')['Get'] as grpc.MethodDefinition<unknown, unknown>;
  const ch = new grpc.Client(`unix://${b.socket}`, grpc.credentials.createInsecure());
  const id = (x: Buffer): Buffer => x;
  const code = await new Promise<number>((resolve) => ch.makeUnaryRequest(def.path, id, id, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => resolve(err?.code ?? 0)));
  ch.close();
  assert.notEqual(code, grpc.status.DEADLINE_EXCEEDED);
  await stillServing();
});

test('workloads.runtime = "docker" with no Docker engine: berthd still starts and serves (was: exit 1)', async () => {
  const d = await TestBerthd.create({ containerd: ctd, units: { hosted: hostUnit('hosted', IDLE) }, extraArgs: ['--namespace', 'berth-docker-test', '--docker-socket', path.join(ctd.dir, 'no-docker.sock')] });
  const dc = BerthClient.connect({ socketPath: d.socket });
  try {
    await writeFile(d.settingsDefaults, '[settings.selinux]\nmode = "auto"\n[settings.workloads]\nruntime = "docker"\n');
    await ctd.client('berth-docker-test').createNamespace('berth-docker-test').catch(() => undefined);
    await importArchive(ctd.client('berth-docker-test'), await busyboxArchive(), { namespace: 'berth-docker-test' });
    await d.start(60_000);
    await waitUnit(dc, 'hosted', (u) => u.state === 'running', 30_000, 'host unit running');
    const e = await refused(dc.workloads.run({ name: 'p', image: 'localhost/x:1', command: [], env: {}, mounts: [], restart: 'always', capAdd: [], privileged: true, hostNetwork: false, hostPid: false, devices: [] }));
    assert.match(e.message, /^privileged: /);
  } finally {
    dc.close();
    await d.stop();
    const cc = ctd.client('berth-docker-test');
    for (const x of await cc.listContainers([], { namespace: 'berth-docker-test' }).catch(() => [])) await new ContainerLifecycle(cc, 'berth-docker-test').remove(x.id).catch(() => undefined);
    cc.close();
  }
});

test('start on a running unit is a no-op (was: illegal transition, container removed, unit backing off)', async () => {
  const before = await waitUnit(c, 'idle', (u) => u.state === 'running', 30_000, 'idle running');
  const after = await c.units.start('idle');
  assert.equal(after.state, 'running');
  assert.equal(after.pid, before.pid);
  assert.equal(after.restarts, before.restarts);
  assert.ok(!after.events.some((e) => /illegal/.test(e.message)), JSON.stringify(after.events));
  assert.equal((await c.units.get('idle')).pid, before.pid);
});

test('a 1 MiB image reference is refused at once and later image calls still work (was: they all hung)', async () => {
  const e = await refused(c.images.remove('A'.repeat(1 << 20), { timeoutMs: 10_000 }));
  assert.equal(e.codeName, 'INVALID_ARGUMENT');
  assert.match(e.message, /^ref: too long/);
  assert.equal((await refused(c.images.remove('not-there', { timeoutMs: 10_000 }))).codeName, 'NOT_FOUND');
});

test('exec: a malformed env entry is INVALID_ARGUMENT naming env[i] (was: UNKNOWN from runc)', async () => {
  const h = c.units.exec({ unit: 'idle', args: ['/bin/true'], tty: false, env: ['A=1', 'no-equals'] });
  h.stdin.end();
  const e = await refused(h.exitCode);
  assert.equal(e.codeName, 'INVALID_ARGUMENT');
  assert.match(e.message, /^env\[1\]: /);
});
