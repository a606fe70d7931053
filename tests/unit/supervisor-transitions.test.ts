import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canTransition, IllegalTransitionError, TRANSITIONS, UNIT_STATES } from '../../src/supervisor/state-machine.js';
import { UnitRecord } from '../../src/supervisor/unit-record.js';
import { validateUnit } from '../../src/units/index.js';
import { planSpec } from '../../src/ocispec/plan.js';
import { testPlanContext } from '../support/supervisor.js';
import type { UnitEvent, UnitState } from '../../src/supervisor/types.js';

const pairs = UNIT_STATES.flatMap((from) => UNIT_STATES.map((to) => [from, to] as const));
const admitted = new Set(Object.entries(TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => `${from} → ${to}`)));

/** A record put in state `from` through admitted transitions only (setState is the only way in). */
function recordIn(from: UnitState, events: UnitEvent[] = []): UnitRecord {
  const r = validateUnit({ name: 'u', class: 'host', image: 'localhost/x:1' });
  assert.ok(r.ok);
  const u = new UnitRecord(planSpec(r.unit, testPlanContext(r.unit)), 'hash', 'test', (_u, e) => events.push(e));
  const path: Record<UnitState, UnitState[]> = {
    stopped: [],
    waiting: ['waiting'],
    preparing: ['preparing'],
    starting: ['preparing', 'starting'],
    running: ['preparing', 'starting', 'running'],
    stopping: ['preparing', 'starting', 'running', 'stopping'],
    exited: ['preparing', 'starting', 'running', 'exited'],
    failed: ['preparing', 'failed'],
    'backing-off': ['preparing', 'backing-off'],
  };
  for (const s of path[from]) u.setState(s, 'setup');
  assert.equal(u.state, from);
  events.length = 0;
  return u;
}

test('transition table: covers every state, names only known states', () => {
  assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...UNIT_STATES].sort());
  for (const tos of Object.values(TRANSITIONS)) for (const to of tos) assert.ok(UNIT_STATES.includes(to), to);
});

test('transition table: every illegal (from, to) pair is refused, and leaves the record as it was', () => {
  let refused = 0;
  for (const [from, to] of pairs) {
    if (admitted.has(`${from} → ${to}`)) continue;
    assert.equal(canTransition(from, to), false, `${from} → ${to}`);
    const events: UnitEvent[] = [];
    const u = recordIn(from, events);
    assert.throws(() => u.setState(to, 'illegal'), (e: unknown) => e instanceof IllegalTransitionError && e.from === from && e.to === to, `${from} → ${to}`);
    assert.equal(u.state, from, `${from} → ${to} changed the state`);
    assert.deepEqual(events, [], `${from} → ${to} emitted an event`);
    refused++;
  }
  assert.equal(refused, pairs.length - admitted.size);
});

test('transition table: every admitted pair is admitted', () => {
  for (const pair of admitted) {
    const [from, to] = pair.split(' → ') as [UnitState, UnitState];
    assert.equal(canTransition(from, to), true, pair);
    const events: UnitEvent[] = [];
    const u = recordIn(from, events);
    u.setState(to, 'legal');
    assert.equal(u.state, to, pair);
    assert.deepEqual(events.map((e) => e.state), [to], pair);
  }
});

test('transition table: the moves that hid bugs stay refused', () => {
  assert.equal(canTransition('stopped', 'running'), false, 'a unit must be launched or adopted (via starting) to run');
  assert.equal(canTransition('running', 'preparing'), false, 'start on a running unit (chaos R4)');
  assert.equal(canTransition('stopping', 'running'), false);
  assert.equal(canTransition('running', 'running'), false);
});

test('only the runner changes a unit state', () => {
  // Compiled tests run from dist/tests/unit; the sources sit at the repository root.
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/supervisor');
  const callers = readdirSync(dir).filter((f) => f.endsWith('.ts') && /\.setState\(/.test(readFileSync(path.join(dir, f), 'utf8')));
  assert.deepEqual(callers, ['runner.ts']);
});
