import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beginRollout, recoverRollout, RolloutInputError, stepRollout, type Rollout } from '../../src/supervisor/rollout-state.js';

const t0 = new Date('2026-12-03T00:00:00.000Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);

function fresh(): Rollout {
  return beginRollout({
    unit: 'control', id: 1, from: { ref: 'localhost/a:1', digest: 'sha256:aa' }, to: { ref: 'localhost/b:1', digest: '' },
    fromHash: 'ha', toHash: 'hb', restoreRef: 'berth.local/rollout/control:aa', watchMs: 3000,
  }, t0);
}

function watching(): Rollout {
  const pulled = stepRollout(fresh(), { kind: 'pulled', digest: 'sha256:bb' }, at(10));
  assert.equal(pulled.action, 'replace');
  return stepRollout(pulled.rollout, { kind: 'started' }, at(20)).rollout;
}

test('rollout: pull, replace, watch, kept at the deadline', () => {
  const w = watching();
  assert.equal(w.phase, 'watching');
  assert.equal(w.to.digest, 'sha256:bb');
  assert.equal(w.deadline, at(3020).toISOString());
  const done = stepRollout(w, { kind: 'deadline', healthy: true, health: 'healthy' }, at(3020));
  assert.deepEqual([done.rollout.phase, done.rollout.outcome, done.action], ['done', 'succeeded', 'none']);
  assert.equal(done.rollout.deadline, undefined);
});

test('rollout: a failed pull is rolled back with nothing to do (nothing was stopped)', () => {
  const r = stepRollout(fresh(), { kind: 'pull-failed', message: 'not found' }, at(5));
  assert.deepEqual([r.rollout.outcome, r.action], ['rolled-back', 'none']);
  assert.match(r.rollout.reason!, /pull failed: not found/);
});

test('rollout: an exit under watch puts the previous image back, with the exit code', () => {
  const r = stepRollout(watching(), { kind: 'exited', exitCode: 1, reason: 'exited with status 1' }, at(100));
  assert.deepEqual([r.rollout.phase, r.action, r.rollout.exitCode], ['rolling-back', 'restore', 1]);
  const done = stepRollout(r.rollout, { kind: 'restored' }, at(200));
  assert.deepEqual([done.rollout.outcome, done.rollout.exitCode, done.rollout.reason], ['rolled-back', 1, 'exited with status 1']);
});

test('rollout: not healthy at the deadline → stop the new one and restore', () => {
  const r = stepRollout(watching(), { kind: 'deadline', healthy: false, health: 'unknown' }, at(3020));
  assert.equal(r.action, 'stop-and-restore');
  assert.match(r.rollout.reason!, /health: unknown/);
});

test('rollout: a failed start restores; a failed restore is `failed` with both reasons', () => {
  const pulled = stepRollout(fresh(), { kind: 'pulled', digest: 'sha256:bb' }, at(1)).rollout;
  const r = stepRollout(pulled, { kind: 'start-failed', message: 'no such binary' }, at(2));
  assert.equal(r.action, 'restore');
  const f = stepRollout(r.rollout, { kind: 'restore-failed', message: 'containerd gone' }, at(3));
  assert.equal(f.rollout.outcome, 'failed');
  assert.match(f.rollout.reason!, /no such binary.*containerd gone/);
});

test('rollout: inputs a phase cannot see are refused; superseded ends any rollout under way', () => {
  assert.throws(() => stepRollout(fresh(), { kind: 'started' }, t0), RolloutInputError);
  assert.throws(() => stepRollout(watching(), { kind: 'pulled', digest: 'x' }, t0), RolloutInputError);
  const s = stepRollout(watching(), { kind: 'superseded', why: 'c asked' }, at(9));
  assert.deepEqual([s.rollout.outcome, s.rollout.phase], ['superseded', 'done']);
  assert.throws(() => stepRollout(s.rollout, { kind: 'superseded', why: 'again' }, t0), RolloutInputError);
});

test('rollout recovery after a berthd restart: one image runs, never none, never both', () => {
  // Killed during the watch, the new one still running: watched a whole window again.
  const w = recoverRollout(watching(), 'to', at(5000));
  assert.deepEqual([w.run, w.action, w.rollout.deadline], ['to', 'watch', at(8000).toISOString()]);
  // It died while berthd was down: the previous image.
  const gone = recoverRollout(watching(), 'none', at(5000));
  assert.deepEqual([gone.run, gone.rollout.outcome], ['from', 'rolled-back']);
  // Killed while rolling back: the previous image, rolled back.
  const rb = stepRollout(watching(), { kind: 'exited', exitCode: 1, reason: 'exit 1' }, at(50)).rollout;
  for (const runs of ['to', 'from', 'none'] as const) assert.deepEqual([recoverRollout(rb, runs, at(60)).run, recoverRollout(rb, runs, at(60)).rollout.outcome], ['from', 'rolled-back']);
  // Killed while pulling: the previous image runs; the rollout starts over.
  const p = recoverRollout(fresh(), 'from', at(1));
  assert.deepEqual([p.run, p.action, p.rollout.phase], ['from', 'restart', 'pulling']);
  // Concluded rollouts say which image runs.
  const rolledBack = stepRollout(fresh(), { kind: 'pull-failed', message: 'x' }, at(1)).rollout;
  assert.equal(recoverRollout(rolledBack, 'from', at(2)).run, 'from');
  const kept = stepRollout(watching(), { kind: 'deadline', healthy: true, health: 'none' }, at(4000)).rollout;
  assert.equal(recoverRollout(kept, 'to', at(5000)).run, 'to');
});
