// What every client call shares: failures as ApiError (the server's message and gRPC code) and server
// streams as async iterables that a signal cancels.
import * as grpc from '@grpc/grpc-js';

/** A failed call: the server's message and its gRPC code, so callers branch on `code`, not on text. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly code: grpc.status,
  ) {
    super(message);
  }
  /** `NOT_FOUND`, `INVALID_ARGUMENT`, … */
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

export function apiError(err: unknown): Error {
  if (err instanceof ApiError) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e && typeof e.code === 'number') return new ApiError(e.details || e.message || grpc.status[e.code] || 'error', e.code);
  return err instanceof Error ? err : new Error(String(err));
}

/** Ends `it` (cancelling the call) when `signal` fires; a cancellation we asked for is not an error. */
export async function* streamOf<W, T>(call: grpc.ClientReadableStream<W>, map: (w: W) => T | undefined, signal?: AbortSignal): AsyncGenerator<T> {
  const onAbort = (): void => call.cancel();
  if (signal?.aborted) call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of call as AsyncIterable<W>) {
      const value = map(msg);
      if (value !== undefined) yield value;
    }
  } catch (err) {
    if (signal?.aborted && (err as Partial<grpc.ServiceError>).code === grpc.status.CANCELLED) return;
    throw apiError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}
