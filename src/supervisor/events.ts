import { EventEmitter } from 'node:events';
import type { SupervisorEvent } from './types.js';
import { wakeOrAbort } from '../util/abort.js';

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

/** The supervisor's event stream: unit state changes and daemon status lines, to any number of watchers. */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per `berthctl events` and per workload manager: no fixed bound is right.
    this.emitter.setMaxListeners(0);
  }

  emit(event: SupervisorEvent): void {
    this.emitter.emit('event', event);
  }

  /** Events from now on, until `signal` aborts. A slow reader gets them all (queued), in order. */
  async *stream(signal: AbortSignal): AsyncGenerator<SupervisorEvent> {
    const queue: SupervisorEvent[] = [];
    let wake: (() => void) | undefined;
    const on = (e: SupervisorEvent): void => {
      queue.push(e);
      wake?.();
    };
    this.emitter.on('event', on);
    try {
      while (!signal.aborted) {
        while (queue.length) yield queue.shift()!;
        if (signal.aborted) break;
        await wakeOrAbort(signal, (w) => (wake = w));
        wake = undefined;
      }
    } finally {
      this.emitter.off('event', on);
    }
  }
}
