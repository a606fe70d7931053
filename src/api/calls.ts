// Small adapters between grpc-js call objects and async functions, shared by every service. They are on the
// hot path (unit status polling), so they add no logging and allocate nothing beyond the response itself.
import type * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { toStatus } from './errors.js';
import { onAbort } from '../util/abort.js';

/** A unary handler from an async function; thrown errors become gRPC status codes (src/api/errors.ts). */
export function unary<Req, Res>(fn: (req: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Res | Promise<Res>;
    try {
      result = fn(call.request);
    } catch (err) {
      callback(toStatus(err));
      return;
    }
    // Synchronous results (unit status reads) answer without a promise round trip.
    if (!(result instanceof Promise)) {
      callback(null, result);
      return;
    }
    result.then(
      (res) => callback(null, res),
      (err: unknown) => callback(toStatus(err)),
    );
  };
}

/** `fn` runs this long after the answer at the latest, should neither sign of the call's end ever come. */
const AFTER_ANSWER_FALLBACK_MS = 5_000;
/** Without the HTTP/2 stream: the wait after grpc-js's end of call for the session to write its frames. */
const AFTER_END_GRACE_MS = 250;

interface StreamLike {
  readonly closed?: unknown;
  once(event: 'close', fn: () => void): unknown;
}

/** The HTTP/2 stream under a grpc-js server call: grpc-js keeps it to itself (`call.call[.nextCall…].stream`). */
function http2StreamOf(call: object): StreamLike | undefined {
  let c = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 8 && typeof c === 'object' && c !== null; depth++) {
    const stream = (c as { stream?: unknown }).stream;
    if (typeof stream === 'object' && stream !== null && typeof (stream as StreamLike).once === 'function' && typeof (stream as StreamLike).closed === 'boolean') return stream as StreamLike;
    c = (c as { nextCall?: unknown }).nextCall; // behind server interceptors
  }
  return undefined;
}

/**
 * Runs `fn` once the answer of a unary call (given right after this is called) has left the process: when
 * the HTTP/2 stream under the call has closed — nghttp2 sent its last frame, and the session writes its
 * frames to the socket in that same turn — one event-loop turn later. For an answer that must arrive though
 * `fn` may end the process (a reboot command that stops berthd). grpc-js keeps that stream private; when it
 * cannot be found, its 'cancelled' event (emitted when a call ends, answered or not: the answer handed to
 * the stream, not yet written) and a short grace instead, and a fallback timer in any case.
 */
export function afterAnswerWritten(call: grpc.ServerUnaryCall<unknown, unknown>, fn: () => void): void {
  let ran = false;
  const run = (): void => {
    if (ran) return;
    ran = true;
    fn();
  };
  const stream = http2StreamOf(call);
  if (stream?.closed === true) setImmediate(run); // the caller is gone: nothing to wait for
  else if (stream) stream.once('close', () => setImmediate(run));
  else call.once('cancelled', () => setTimeout(run, AFTER_END_GRACE_MS));
  setTimeout(run, AFTER_ANSWER_FALLBACK_MS).unref();
}

/** Streaming calls the server has not finished yet; `close()` aborts them so shutdown does not wait on them. */
export class ActiveStreams {
  private readonly controllers = new Set<AbortController>();

  /** An AbortSignal that fires when the client cancels or the server shuts down. */
  track(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): AbortController {
    const controller = new AbortController();
    this.controllers.add(controller);
    const abort = (): void => controller.abort();
    call.once('cancelled', abort);
    call.once('close', () => this.controllers.delete(controller));
    controller.signal.addEventListener('abort', () => this.controllers.delete(controller), { once: true });
    return controller;
  }

  abortAll(): void {
    for (const c of [...this.controllers]) c.abort();
  }
}

/**
 * Writes with backpressure: resolves once the message is queued and, if grpc-js's buffer is full, drained —
 * so a slow `logs --follow` reader slows us down instead of growing memory without bound.
 */
export async function writeMessage<T>(call: grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>, msg: T, signal: AbortSignal): Promise<void> {
  if (call.write(msg)) return;
  if (signal.aborted) return;
  await once(call, 'drain', { signal }).catch(() => undefined);
}

/** Ends a server stream with an error status (the grpc-js way: an 'error' event sets the final status). */
export function failStream(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, err: unknown): void {
  if (call.cancelled || call.writableEnded) return;
  call.emit('error', toStatus(err));
}

/**
 * `next`, or `{ done: true }` as soon as `signal` fires, whichever is first. Not `Promise.race([next, aborted])`
 * with one `aborted` promise for the whole stream: each race leaves a reaction on that promise until it
 * settles, holding the race's result — every line a `logs -f` follower ever sent, every event of a watch
 * (found by the soak: berthd's live heap grew ~150 kB a minute under two followers). Here the abort listener
 * lives only as long as this one wait.
 */
function nextOrAbort<T>(next: Promise<IteratorResult<T>>, signal: AbortSignal): Promise<IteratorResult<T>> {
  if (signal.aborted) return Promise.resolve({ done: true, value: undefined });
  return new Promise<IteratorResult<T>>((resolve, reject) => {
    const stop = onAbort(signal, () => resolve({ done: true, value: undefined }));
    next.then((r) => {
      stop();
      resolve(r);
    }, (e: unknown) => {
      stop();
      reject(e);
    });
  });
}

/**
 * Iterates `source` until it ends or `signal` fires — even if the source ignores the signal, so a cancelled
 * call never stays parked on an event that may not come. The source is closed (`return()`) either way.
 */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = it.next();
      // If the abort wins, a later rejection of `next` must not surface as unhandled.
      next.catch(() => undefined);
      const result = await nextOrAbort(next, signal);
      if (result.done || signal.aborted) return;
      yield result.value;
    }
  } finally {
    // Not awaited: a source stuck in next() would otherwise hold us too.
    void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}
