import type { UnitState } from './types.js';

/** Every unit state, in lifecycle order (for tests and tables that must cover them all). */
export const UNIT_STATES: readonly UnitState[] = ['stopped', 'waiting', 'preparing', 'starting', 'running', 'stopping', 'exited', 'failed', 'backing-off'];

/**
 * The transitions a unit really takes, found by reading every state change in the runner and checked by
 * running the supervisor tests with each transition logged. Anything else is a bug in the supervisor and is
 * refused (see UnitRecord.setState) rather than leaving a unit in a state it cannot leave or that lies about
 * it: `stopped → running` once passed, which let a unit claim a task no one had started or attached.
 */
export const TRANSITIONS: Readonly<Record<UnitState, readonly UnitState[]>> = {
  // → starting: adoption attaches to a task found running (then → running); → exited: a bootstrap unit
  // whose marker says it already ran.
  stopped: ['waiting', 'preparing', 'starting', 'exited'],
  waiting: ['preparing', 'stopped'],
  // preparing → preparing: image pull progress, reported in the state's message.
  preparing: ['preparing', 'starting', 'failed', 'backing-off', 'stopped'],
  starting: ['running', 'failed', 'backing-off', 'stopped'],
  // running → stopped: the task ended on its own just as the unit was being stopped or disabled.
  // running → failed: a bootstrap run whose container could not be removed, or a run that gave up.
  running: ['stopping', 'exited', 'failed', 'backing-off', 'stopped'],
  stopping: ['stopped', 'failed'],
  exited: ['waiting', 'preparing', 'stopped'],
  failed: ['waiting', 'preparing', 'stopped'],
  'backing-off': ['preparing', 'waiting', 'stopped'],
};

export function canTransition(from: UnitState, to: UnitState): boolean {
  return TRANSITIONS[from].includes(to);
}

export class IllegalTransitionError extends Error {
  constructor(readonly unit: string, readonly from: UnitState, readonly to: UnitState) {
    super(`${unit}: illegal state transition ${from} → ${to}`);
    this.name = 'IllegalTransitionError';
  }
}
