// Boot assessment (`berthctl update boot-check`, src/cli/boot-check.ts): which boot is good, the polling loop
// against its deadline (on a fake clock), the record kept for `update status`, the settings it reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  decodeEfiString, failedChecks, judgeBoot, recordPath, runBootCheck, writeRecord,
  type BootCheckPlan, type BootCheckSnapshot,
} from '../../src/cli/boot-check.js';
import { essentialBootstrap } from '../../src/cli/boot-check-settings.js';
import { durationArg } from '../../src/cli/commands/boot-check.js';
import { readFamily, updatesFamily } from '../../src/settings/index.js';
import type { UnitStatus } from '../../src/wire/index.js';

function unit(name: string, o: Partial<UnitStatus> = {}): UnitStatus {
  return {
    name, class: 'host', state: 'running', desired: 'running', image: 'x', superpowered: false, containerId: name, namespace: 'berth',
    pid: 10, restarts: 0, health: 'none', events: [], ...o,
  };
}

const PLAN: BootCheckPlan = { essential: ['init'], healthChecks: ['agent'] };
const good = (): UnitStatus[] => [unit('init', { class: 'bootstrap', state: 'exited', exitCode: 0 }), unit('control'), unit('agent', { health: 'healthy' })];
const snap = (units: UnitStatus[] | { error: string }, berthdState: string | undefined = 'active'): BootCheckSnapshot => ({ berthdState, daemon: { ready: true, message: 'ok' }, units });
const failing = (s: BootCheckSnapshot, plan = PLAN) => judgeBoot(s, plan).filter((c) => !c.ok).map((c) => c.check);

test('a boot is good only with berthd active and answering, essential bootstrap done, control and every health check up', () => {
  assert.deepEqual(failing(snap(good())), []);
  assert.deepEqual(failing(snap(good(), 'activating')), ['berthd']);
  assert.deepEqual(failing({ ...snap(good()), daemon: { ready: false, message: 'starting' } }), ['berthd']);
  assert.deepEqual(failing(snap({ error: 'connect ENOENT /run/berth/api.sock' })), ['berthd', 'essential:init', 'control', 'health:agent']);
  const [init, control, agent] = good() as [UnitStatus, UnitStatus, UnitStatus];
  assert.deepEqual(failing(snap([{ ...init, state: 'running' }, control, agent])), ['essential:init']);
  assert.deepEqual(failing(snap([init, { ...control, state: 'backing-off', lastError: 'exit 1' }, agent])), ['control']);
  assert.deepEqual(failing(snap([init, { ...control, health: 'unhealthy' }, agent])), ['control']);
  assert.deepEqual(failing(snap([init, control, { ...agent, health: 'unknown' }])), ['health:agent']);
  assert.deepEqual(failing(snap([init, control])), ['health:agent']);
  // control switched off by the operator is not a bad boot; no health checks named: nothing more to wait for.
  assert.deepEqual(failing(snap([init, { ...control, desired: 'stopped', state: 'stopped' }]), { essential: ['init'], healthChecks: [] }), []);
  // A failed essential bootstrap unit will not recover: final. An unhealthy unit might: not final.
  const out = judgeBoot(snap([{ ...init, state: 'failed', lastError: 'exited with status 3' }, control, { ...agent, health: 'unhealthy' }]), PLAN);
  assert.deepEqual(out.filter((c) => c.final).map((c) => c.check), ['essential:init']);
  assert.match(out.find((c) => c.check === 'essential:init')!.detail, /exited with status 3/);
  assert.deepEqual(failedChecks(out).map((c) => c.check), ['essential:init', 'health:agent']);
});

function clock() {
  let now = 0;
  return { now: () => now, sleep: async (ms: number) => { now += ms; } };
}

test('the loop waits for a unit to become healthy within the timeout, and fails at the deadline naming the check', async () => {
  const c = clock();
  const healthyAt = 7_000;
  const ok = await runBootCheck(PLAN, 10_000, { ...c, snapshot: async () => snap(good().map((u) => (u.name === 'agent' && c.now() < healthyAt ? { ...u, health: 'starting' as never } : u))) });
  assert.equal(ok.passed, true);
  assert.equal(ok.elapsedMs, healthyAt);

  const c2 = clock();
  const polls: number[] = [];
  const bad = await runBootCheck(PLAN, 10_000, {
    ...c2,
    snapshot: async () => snap(good().map((u) => (u.name === 'control' ? { ...u, state: 'backing-off' as const } : u))),
    onPoll: () => polls.push(c2.now()),
  });
  assert.equal(bad.passed, false);
  assert.equal(bad.elapsedMs, 10_000);
  assert.equal(polls.length, 11);
  assert.deepEqual(failedChecks(bad.checks).map((f) => f.check), ['control']);

  // A final failure does not wait out the timeout.
  const c3 = clock();
  const fast = await runBootCheck(PLAN, 60_000, { ...c3, snapshot: async () => snap(good().map((u) => (u.name === 'init' ? { ...u, state: 'failed' as const } : u))) });
  assert.deepEqual([fast.passed, fast.elapsedMs], [false, 0]);
});

test('the record: one <version>.json, written whole; a version that is a path is refused', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bootcheck-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const checks = judgeBoot(snap({ error: 'down' }), PLAN);
  const rec = { version: '3.0.0', entry: 'berth-3.0.0+2-1.conf', passed: false, startedAt: 'a', endedAt: 'b', timeoutMs: 5, failed: failedChecks(checks), checks };
  const file = await writeRecord(path.join(dir, 'boot-check'), rec);
  assert.equal(file, path.join(dir, 'boot-check', '3.0.0.json'));
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), rec);
  assert.deepEqual(await readdir(path.join(dir, 'boot-check')), ['3.0.0.json']);
  for (const v of ['../x', 'a/b', '', '.hidden', 'a..b']) assert.throws(() => recordPath(dir, v), /cannot name a record file/, v);
});

test('LoaderEntrySelected is decoded from efivarfs bytes (attributes, UTF-16LE, NUL)', () => {
  const name = 'berth-1.0.0+2-1.conf';
  const bytes = Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from(`${name}\0`, 'utf16le')]);
  assert.equal(decodeEfiString(bytes), name);
});

test('settings: essential bootstrap units that run; health settings typed with their defaults; --timeout checked', () => {
  const tree = { 'bootstrap-containers': { a: { essential: true, mode: 'once' }, b: { essential: true, mode: 'off' }, c: { essential: false, mode: 'always' }, d: { essential: true, mode: 'always' } } };
  assert.deepEqual(essentialBootstrap(tree), ['a', 'd']);
  assert.deepEqual(essentialBootstrap({}), []);
  const defaults = readFamily(new Map(), updatesFamily);
  assert.deepEqual([defaults.healthChecks, defaults.healthTimeout], [[], 300_000]);
  const set = readFamily(new Map<string, string | string[]>([['updates.health-checks', ['agent']], ['updates.health-timeout', '90s']]), updatesFamily);
  assert.deepEqual([set.healthChecks, set.healthTimeout], [['agent'], 90_000]);
  assert.equal(durationArg('90s'), 90_000);
  for (const bad of ['90', 'soon', '0s', '-1m']) assert.throws(() => durationArg(bad), /expected a duration/);
});
