// Server streams of stop progress (Units.StopAllWithProgress, Units.StopWithProgress,
// Workloads.StopWithProgress): a stop may wait out a whole stop timeout before SIGKILL, so the caller is told
// each step as it happens instead of waiting in silence.
import type * as grpc from '@grpc/grpc-js';
import type { StopObserver } from '../supervisor/types.js';
import { stopProgressToWire } from '../wire/convert.js';
import type { WireStopProgress } from '../wire/messages.js';
import type { ActiveStreams } from './calls.js';
import { failStream } from './calls.js';

/** Emits progress of one kind (units or workloads) into a stream. */
export type StopRun<Req> = (request: Req, emit: (kind: 'unit' | 'workload') => StopObserver) => Promise<void>;

/**
 * `run` stops something, reporting through `emit(kind)`; the stream ends when it resolves. A client that
 * goes away (or berthd closing the stream) does not cancel the stop: a half-done stop-all would be worse
 * than one nobody watches.
 */
export function stopProgressHandler<Req>(streams: ActiveStreams, run: StopRun<Req>): grpc.handleServerStreamingCall<Req, WireStopProgress> {
  return (call) => {
    const controller = streams.track(call as grpc.ServerWritableStream<unknown, unknown>);
    const signal = controller.signal;
    const emit = (kind: 'unit' | 'workload'): StopObserver => (p) => {
      // Not awaited for drain: a handful of small messages per unit; the stop must not wait on a reader.
      if (!signal.aborted && !call.cancelled) call.write(stopProgressToWire({ kind, name: p.unit, ...withoutUnit(p) }));
    };
    void run(call.request, emit)
      .then(() => {
        if (!call.cancelled && !call.writableEnded) call.end();
      })
      .catch((err: unknown) => failStream(call as grpc.ServerWritableStream<unknown, unknown>, err))
      .finally(() => controller.abort());
  };
}

function withoutUnit<T extends { unit: string }>(p: T): Omit<T, 'unit'> {
  const { unit: _unit, ...rest } = p;
  return rest;
}
