// berthctl's rendering of stop progress (issue 16, "long waits say what they wait for"): plain lines for
// pipes, and the terminal board as a pure function of the messages, when they came, and the time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderStopBoard, seconds, stopOutcome, stopProgressText, type TimedStopProgress } from '../../src/cli/stop-progress.js';
import { followStop } from '../../src/cli/stop-view.js';
import { stopProgressFromWire, stopProgressToWire, type StopProgress } from '../../src/wire/index.js';

const signal = (name: string, timeoutMs: number, kind: 'unit' | 'workload' = 'unit'): StopProgress => ({ kind, name, phase: 'signal', signal: 'SIGTERM', timeoutMs, elapsedMs: 0 });
const stopped = (name: string, exitCode: number, elapsedMs: number, kind: 'unit' | 'workload' = 'unit'): StopProgress => ({ kind, name, phase: 'stopped', exitCode, elapsedMs });

test('plain lines: one per step', () => {
  assert.equal(stopProgressText(signal('control', 10_000)), 'control: SIGTERM sent, SIGKILL in 10s');
  assert.equal(stopProgressText(stopped('control', 143, 412)), 'control: stopped (exit 143) after 0.4s');
  assert.equal(stopProgressText({ kind: 'unit', name: 'x', phase: 'kill', signal: 'SIGKILL', elapsedMs: 2004 }), 'x: still running after 2.0s, SIGKILL sent');
  assert.equal(stopProgressText(signal('web', 10_000, 'workload')), 'workload web: SIGTERM sent, SIGKILL in 10s');
  assert.equal(stopProgressText({ kind: 'unit', name: 'admin', phase: 'not-running', elapsedMs: 0, message: 'exited' }), 'admin: not running (exited)');
  assert.equal(stopProgressText({ kind: 'unit', name: 'x', phase: 'failed', elapsedMs: 1500, message: 'containerd is gone' }), 'x: stop failed after 1.5s: containerd is gone');
  assert.equal(stopProgressText({ kind: 'unit', name: 'x', phase: 'stopped', elapsedMs: 30 }), 'x: stopped after 0.0s', 'no exit status known');
  assert.deepEqual([seconds(2000), seconds(2500), seconds(0), seconds(-5)], ['2s', '2.5s', '0s', '0s']);
});

test('the board: a line per unit with its latest step, countdowns for now, names aligned', () => {
  const t0 = 1_000_000;
  const events: TimedStopProgress[] = [
    { progress: signal('control', 10_000), at: t0 },
    { progress: signal('web', 10_000, 'workload'), at: t0 + 5 },
    { progress: stopped('control', 0, 400), at: t0 + 400 },
  ];
  assert.deepEqual(renderStopBoard(events, t0 + 2500, { columns: 120, rows: 20 }), [
    'control       stopped (exit 0) after 0.4s',
    'workload web  SIGTERM sent 2.5s ago, SIGKILL in 7.5s',
  ]);
  // Past the timeout, before berthd's SIGKILL report arrives; then the SIGKILL.
  assert.match(renderStopBoard(events, t0 + 12_000, { columns: 120, rows: 20 })[1]!, /SIGKILL due$/);
  const killed = [...events, { progress: { kind: 'workload', name: 'web', phase: 'kill', signal: 'SIGKILL', elapsedMs: 10_001 } as StopProgress, at: t0 + 10_006 }];
  assert.equal(renderStopBoard(killed, t0 + 10_506, { columns: 120, rows: 20 })[1], 'workload web  SIGKILL sent after 10.0s, waiting for the exit (0.5s)');
  // A unit and a workload of the same name are two lines.
  assert.equal(renderStopBoard([...events, { progress: signal('web', 1000), at: t0 + 6 }], t0 + 10, { columns: 120, rows: 20 }).length, 3);
  // Cut to the terminal's width.
  const narrow = renderStopBoard(events, t0 + 2500, { columns: 20, rows: 20 });
  assert.ok(narrow.every((l) => l.length <= 19), JSON.stringify(narrow));
});

test('the board: more units than rows shows those still stopping and sums up the rest', () => {
  const events: TimedStopProgress[] = [];
  for (let i = 0; i < 30; i++) events.push({ progress: signal(`u${i}`, 10_000), at: 0 });
  for (let i = 0; i < 27; i++) events.push({ progress: stopped(`u${i}`, 0, 100), at: 100 });
  const lines = renderStopBoard(events, 1000, { columns: 80, rows: 5 });
  assert.equal(lines.length, 5);
  // Every unit still stopping is kept (finished ones fill the room left), in their order.
  assert.deepEqual(lines.slice(0, 4).map((l) => l.split(' ')[0]), ['u0', 'u27', 'u28', 'u29']);
  assert.equal(lines[4], '… 26 more (26 done, 0 stopping)');
});

test('outcome: counts by kind, failures', () => {
  const o = stopOutcome([signal('a', 1), stopped('a', 0, 1), signal('w', 1, 'workload'), { kind: 'workload', name: 'w', phase: 'failed', elapsedMs: 3, message: 'boom' }]);
  assert.deepEqual([o.units, o.workloads, o.failed.map((p) => p.name)], [1, 1, ['w']]);
});

test('wire: a round trip keeps every field; an unknown phase from a newer server is skipped', () => {
  for (const p of [signal('a', 2000), stopped('b', 0, 10, 'workload'), { kind: 'unit', name: 'c', phase: 'failed', elapsedMs: 5, message: 'x' } as StopProgress]) {
    assert.deepEqual(stopProgressFromWire(stopProgressToWire(p)), p);
  }
  assert.equal(stopProgressFromWire({ ...stopProgressToWire(signal('a', 1)), phase: 'paused' }), undefined);
});

async function* from(list: StopProgress[], fail?: Error): AsyncGenerator<StopProgress> {
  yield* list;
  if (fail) throw fail;
}

test('followStop: plain lines when not a terminal, redrawn in place on one, the plain call against an older berthd', async () => {
  let text = '';
  const out = { write: (s: string) => (text += s), isTTY: false };
  const got = await followStop(from([signal('a', 2000), stopped('a', 137, 2003)]), 'table', async () => assert.fail('no fallback'), out);
  assert.equal(got?.length, 2);
  assert.equal(text, 'a: SIGTERM sent, SIGKILL in 2s\na: stopped (exit 137) after 2.0s\n');

  text = '';
  const tty = { write: (s: string) => (text += s), isTTY: true, columns: 80, rows: 24 };
  await followStop(from([signal('a', 2000), stopped('a', 0, 300)]), 'table', async () => undefined, tty);
  // The board counts on the real clock: a millisecond between the event and the drawing reads 0.0s / 2.0s.
  assert.match(text, /^\x1b\[2Ka {2}SIGTERM sent 0(\.0)?s ago, SIGKILL in 2(\.0)?s\n\x1b\[J/);
  assert.match(text, /\r\x1b\[1A\x1b\[2Ka {2}stopped \(exit 0\) after 0\.3s\n\x1b\[J$/, JSON.stringify(text));

  let fellBack = false;
  const old = Object.assign(new Error('unknown method'), { code: 12 });
  assert.equal(await followStop(from([], old), 'table', async () => void (fellBack = true), out), undefined);
  assert.ok(fellBack);
  // Any other failure is the command's failure.
  await assert.rejects(followStop(from([], new Error('boom')), 'table', async () => undefined, out), /boom/);
});
