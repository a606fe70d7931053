// What every client call shares, whichever transport made it: failures as ApiError (the server's message and
// gRPC code) and server streams as async iterables that a signal cancels. Type-only use of grpc-js here, so a
// berthctl that makes only unary calls over HTTP/2 (./unary-h2.ts) never loads it.
import type * as grpc from '@grpc/grpc-js';

/** gRPC status codes by number, as grpc-js names them. */
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export const STATUS = { CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14 } as const;

export function statusName(code: number): string | undefined {
  return STATUS_NAMES[code];
}

/** A failed call: the server's message and its gRPC code, so callers branch on `code`, not on text. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
  /** `NOT_FOUND`, `INVALID_ARGUMENT`, … */
  get codeName(): string {
    return statusName(this.code) ?? String(this.code);
  }
}

/** A call's final status as ApiError, worded as grpc-js words it (its ServiceError message when no details). */
export function statusError(code: number, details: string): ApiError {
  return new ApiError(details || `${code} ${statusName(code)}: ${details}`, code);
}

export function apiError(err: unknown): Error {
  if (err instanceof ApiError) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e && typeof e.code === 'number') return new ApiError(e.details || e.message || statusName(e.code) || 'error', e.code);
  return err instanceof Error ? err : new Error(String(err));
}

/** Ends `it` (cancelling the call) when `signal` fires; a cancellation we asked for is not an error. */
export async function* streamOf<W, T>(open: Promise<grpc.ClientReadableStream<W>>, map: (w: W) => T | undefined, signal?: AbortSignal): AsyncGenerator<T> {
  const call = await open;
  const onAbort = (): void => call.cancel();
  if (signal?.aborted) call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of call as AsyncIterable<W>) {
      const value = map(msg);
      if (value !== undefined) yield value;
    }
  } catch (err) {
    if (signal?.aborted && (err as Partial<grpc.ServiceError>).code === STATUS.CANCELLED) return;
    throw apiError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}
