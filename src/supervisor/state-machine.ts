import type { UnitState } from './types.js';

/**
 * The transitions a unit may take. Anything else is a bug in the supervisor, and is refused loudly rather
 * than leaving a unit in a state it cannot leave.
 */
const TRANSITIONS: Record<UnitState, readonly UnitState[]> = {
  waiting: ['preparing', 'stopped', 'failed', 'waiting'],
  preparing: ['starting', 'failed', 'backing-off', 'stopped', 'waiting', 'preparing'],
  starting: ['running', 'failed', 'backing-off', 'stopped', 'exited', 'stopping'],
  // running → stopped: the task ended on its own just as the unit was being stopped or disabled.
  running: ['stopping', 'exited', 'failed', 'backing-off', 'running', 'stopped'],
  stopping: ['stopped', 'failed'],
  stopped: ['waiting', 'preparing', 'stopped', 'running', 'exited'],
  exited: ['waiting', 'preparing', 'stopped', 'exited'],
  failed: ['waiting', 'preparing', 'stopped', 'failed', 'backing-off'],
  'backing-off': ['preparing', 'waiting', 'stopped', 'backing-off', 'failed'],
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

/** Fixed-size ring of recent events (Talos keeps 64 per service). */
export class EventRing<T> {
  private readonly items: T[] = [];
  constructor(private readonly capacity = 64) {}
  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.shift();
  }
  toArray(): T[] {
    return [...this.items];
  }
}
