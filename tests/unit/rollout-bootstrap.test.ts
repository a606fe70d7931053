// Guarded rollouts of bootstrap units (issue 18): the pure decisions. A run-to-completion unit is healthy when
// it exits 0 within the watch; its previous image is put back otherwise, and re-run when its mode says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beginRollout, bootstrapRerunsPrevious, recoverBootstrapRollout, RolloutInputError, stepRollout, type Rollout } from '../../src/supervisor/rollout-state.js';
import { desiredUnits } from '../../src/desired/units.js';
import type { UnitSpec } from '../../src/units/types.js';

const t0 = new Date('2026-12-03T00:00:00.000Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);

function fresh(): Rollout {
  return beginRollout({
    unit: 'setup', id: 1, from: { ref: 'localhost/a:1', digest: 'sha256:aa' }, to: { ref: 'localhost/b:1', digest: '' },
    fromHash: 'ha', toHash: 'hb', restoreRef: 'berth.local/rollout/setup:aa', watchMs: 5000,
  }, t0);
}

function running(): Rollout {
  const pulled = stepRollout(fresh(), { kind: 'pulled', digest: 'sha256:bb' }, at(10)).rollout;
  return stepRollout(pulled, { kind: 'started' }, at(20)).rollout;
}

test('bootstrap rollout: exit 0 within the watch is its healthy end: kept, both digests recorded', () => {
  const r = stepRollout(running(), { kind: 'completed' }, at(900));
  assert.deepEqual([r.rollout.phase, r.rollout.outcome, r.action], ['done', 'succeeded', 'none']);
  assert.deepEqual([r.rollout.from.digest, r.rollout.to.digest], ['sha256:aa', 'sha256:bb']);
  assert.equal(r.rollout.deadline, undefined);
});

test('bootstrap rollout: a non-zero exit puts the previous image back; rolled-back with the exit code', () => {
  const r = stepRollout(running(), { kind: 'exited', exitCode: 1, reason: 'exited with status 1' }, at(100));
  assert.deepEqual([r.rollout.phase, r.action], ['rolling-back', 'restore']);
  const done = stepRollout(r.rollout, { kind: 'restored' }, at(200));
  assert.deepEqual([done.rollout.outcome, done.rollout.exitCode, done.rollout.reason], ['rolled-back', 1, 'exited with status 1']);
});

test('bootstrap rollout: not finished by the deadline (it was stopped) is a failure: restore', () => {
  const r = stepRollout(running(), { kind: 'unfinished' }, at(5020));
  assert.deepEqual([r.rollout.phase, r.action], ['rolling-back', 'restore']);
  assert.match(r.rollout.reason!, /did not finish within the 5 s watch/);
  // The previous image's re-run failed as well: `failed`, with both reasons.
  const f = stepRollout(r.rollout, { kind: 'restore-failed', message: 'its run exited with status 3' }, at(6000));
  assert.equal(f.rollout.outcome, 'failed');
  assert.match(f.rollout.reason!, /did not finish.*localhost\/a:1 back failed too: its run exited with status 3/);
});

test('bootstrap rollout: `completed`/`unfinished` only while the new image runs', () => {
  assert.throws(() => stepRollout(fresh(), { kind: 'completed' }, t0), RolloutInputError);
  const pulled = stepRollout(fresh(), { kind: 'pulled', digest: 'sha256:bb' }, at(1)).rollout;
  assert.throws(() => stepRollout(pulled, { kind: 'unfinished' }, t0), RolloutInputError);
});

test('bootstrap rollout: a new image that is not there changes nothing (rolled back, nothing to do)', () => {
  const r = stepRollout(fresh(), { kind: 'pull-failed', message: 'not found' }, at(5));
  assert.deepEqual([r.rollout.outcome, r.action], ['rolled-back', 'none']);
});

test('bootstrap rollout: the previous image is re-run for `always`, for `once` only while its one run is owed', () => {
  assert.equal(bootstrapRerunsPrevious('always', false), true);
  assert.equal(bootstrapRerunsPrevious('always', true), true);
  assert.equal(bootstrapRerunsPrevious('once', true), false, 'once, already completed: its job is done');
  assert.equal(bootstrapRerunsPrevious('once', false), true, 'once, never completed: still owed');
  assert.equal(bootstrapRerunsPrevious('off', false), false);
});

test('bootstrap rollout recovery after a berthd restart: the previous image unless the new one was proven', () => {
  // Killed during the trial run: its result is unknown, so the boot's gate runs the previous image.
  const during = recoverBootstrapRollout(running(), at(100));
  assert.deepEqual([during.run, during.action, during.rollout.outcome], ['from', 'none', 'rolled-back']);
  assert.match(during.rollout.reason!, /result is unknown/);
  // Killed while rolling back: rolled back, with the reason it had.
  const rb = stepRollout(running(), { kind: 'exited', exitCode: 2, reason: 'exited with status 2' }, at(50)).rollout;
  const r2 = recoverBootstrapRollout(rb, at(60));
  assert.deepEqual([r2.run, r2.rollout.outcome, r2.rollout.exitCode], ['from', 'rolled-back', 2]);
  // Killed while pulling: nothing ran; start over later, the previous image meanwhile.
  const p = recoverBootstrapRollout(fresh(), at(1));
  assert.deepEqual([p.run, p.action, p.rollout.phase], ['from', 'restart', 'pulling']);
  // Concluded: succeeded runs the new image, rolled back the previous one.
  const ok = stepRollout(running(), { kind: 'completed' }, at(30)).rollout;
  assert.equal(recoverBootstrapRollout(ok, at(40)).run, 'to');
  assert.equal(recoverBootstrapRollout(stepRollout(rb, { kind: 'restored' }, at(70)).rollout, at(80)).run, 'from');
});

test('bootstrap-containers.<name>.rollout: settings win key by key; no watch anywhere leaves the class default', () => {
  const base: UnitSpec = desiredUnits(new Map(), new Map(), new Map([['setup', { source: 'localhost/a:1', mode: 'always', essential: false }]])).specs[0]!;
  assert.equal(base.rollout, undefined);
  const off = desiredUnits(new Map(), new Map(), new Map([['setup', { source: 'localhost/a:1', mode: 'always', essential: false, rollout: { guard: false } }]])).specs[0]!;
  assert.deepEqual(off.rollout, { guard: false });
  const loaded = new Map([['setup', { ...base, rollout: { watchMs: 9000, guard: true } }]]);
  const both = desiredUnits(loaded, new Map(), new Map([['setup', { source: 'localhost/b:1', mode: 'once', essential: true, rollout: { guard: false } }]])).specs[0]!;
  assert.deepEqual(both.rollout, { watchMs: 9000, guard: false });
});

test('a bootstrap unit\'s source change is a rollout only when guarded, wanted, and its mode runs it', async () => {
  const { Rollouts } = await import('../../src/supervisor/rollout.js');
  const { UnitRecord } = await import('../../src/supervisor/unit-record.js');
  const { validateUnit } = await import('../../src/units/index.js');
  const { planSpec } = await import('../../src/ocispec/plan.js');
  const { testPlanContext } = await import('../support/supervisor.js');
  const plan = (image: string, mode: string, guard?: boolean) => {
    const r = validateUnit({ name: 'setup', class: 'bootstrap', image, bootstrap: { mode }, ...(guard !== undefined ? { rollout: { guard } } : {}) });
    assert.ok(r.ok);
    return planSpec(r.unit, testPlanContext(r.unit));
  };
  const u = new UnitRecord(plan('localhost/a:1', 'always'), 'ha', 'test', () => undefined);
  u.desired = 'running';
  const rollouts = new Rollouts({} as never, {} as never, () => ({}) as never);
  // Exited (its run done) is its normal state: still guarded, unlike a host unit that must be running.
  assert.equal(rollouts.applies(u, plan('localhost/b:1', 'always'), 'localhost/a:1'), true);
  assert.equal(rollouts.applies(u, plan('localhost/b:1', 'once'), 'localhost/a:1'), true);
  assert.equal(rollouts.applies(u, plan('localhost/b:1', 'off'), 'localhost/a:1'), false, 'off: nothing runs, nothing to guard');
  assert.equal(rollouts.applies(u, plan('localhost/b:1', 'always', false), 'localhost/a:1'), false, 'rollout.guard = false');
  assert.equal(rollouts.applies(u, plan('localhost/a:1', 'always'), 'localhost/a:1'), false, 'same image');
  u.held = true;
  assert.equal(rollouts.applies(u, plan('localhost/b:1', 'always'), 'localhost/a:1'), false, 'stopped on request');
});
