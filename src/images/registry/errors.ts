// Pull failures, split into the two kinds the retry loop cares about. Each carries a gRPC code so the API
// answers with something a client can branch on (src/api/errors.ts reads `code`).

export type FailureKind = 'transient' | 'permanent';

const GRPC = { deadlineExceeded: 4, notFound: 5, permissionDenied: 7, failedPrecondition: 9, unavailable: 14, unauthenticated: 16, invalidArgument: 3 } as const;

export class RegistryError extends Error {
  override readonly name: string = 'RegistryError';
  constructor(
    message: string,
    readonly kind: FailureKind,
    readonly code: number,
    /** Server-requested delay before the next attempt (429/503 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export const transient = (message: string, retryAfterMs?: number): RegistryError => new RegistryError(message, 'transient', GRPC.unavailable, retryAfterMs);
export const notFound = (message: string): RegistryError => new RegistryError(message, 'permanent', GRPC.notFound);
export const unauthorized = (message: string): RegistryError => new RegistryError(message, 'permanent', GRPC.unauthenticated);
export const forbidden = (message: string): RegistryError => new RegistryError(message, 'permanent', GRPC.permissionDenied);
export const invalid = (message: string): RegistryError => new RegistryError(message, 'permanent', GRPC.failedPrecondition);
/**
 * A pull that ran out of time (overall deadline or stall). Permanent for this pull's retry loop — retrying
 * inside the same pull would defeat the deadline — while a unit's restart backoff may try again later.
 */
export const timedOut = (message: string): RegistryError => new RegistryError(message, 'permanent', GRPC.deadlineExceeded);

/** Socket-level failures worth another attempt (reset, refused, timeouts, DNS hiccups, dropped bodies). */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);

export function isTransient(e: unknown): boolean {
  if (e instanceof RegistryError) return e.kind === 'transient';
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  return e instanceof Error && /aborted|socket hang up|premature close|timed out/i.test(e.message);
}

/** Parse Retry-After (seconds or an HTTP date) into milliseconds, capped so a registry cannot park a pull. */
export function retryAfterMs(header: string | undefined, now = Date.now(), capMs = 60_000): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), capMs) : undefined;
}
