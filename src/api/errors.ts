// Typed failures the API understands, and their translation to gRPC status codes. Implementers of the
// injected interfaces (settings, images, supervisor) throw these — or anything shaped like them — and the
// server turns them into codes a client can branch on, instead of every failure being INTERNAL.
import { status, type StatusObject, Metadata } from '@grpc/grpc-js';

/** A bad key, field or value. `path` names it (`host-containers.admin.enabled`), the message says why. */
export class ValidationError extends Error {
  override readonly name: string = 'ValidationError';
  constructor(
    readonly path: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    // The path leads the message so `berthctl: <message>` names the key without the client knowing our types.
    super(path === '' || reason.startsWith(`${path}:`) ? reason : `${path}: ${reason}`, options);
  }
}

/** A named thing (unit, image, transaction) that does not exist. */
export class NotFoundError extends Error {
  override readonly name: string = 'NotFoundError';
}

/** A dependency (containerd) is down; the client may retry later. */
export class UnavailableError extends Error {
  override readonly name: string = 'UnavailableError';
}

function field(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * The gRPC code for a thrown value. Duck-typed on purpose: the settings store, the units module, the
 * runtime, the workloads and the containerd client each have their own error classes, and the API must not
 * import them all to classify.
 */
export function grpcCodeOf(err: unknown): status {
  const name = field(err, 'name');
  const n = typeof name === 'string' ? name : '';
  if (err instanceof ValidationError || typeof field(err, 'path') === 'string' || n.endsWith('ValidationError')) {
    return status.INVALID_ARGUMENT;
  }
  if (n === 'SettingsError') {
    // src/settings: invalid/document/empty are the caller's fault; persist/load are ours.
    const code = field(err, 'code');
    return code === 'invalid' || code === 'document' || code === 'empty' ? status.INVALID_ARGUMENT : status.INTERNAL;
  }
  if (n.endsWith('NotFoundError')) return status.NOT_FOUND;
  // The runtime's AlreadyExistsError, the workloads' WorkloadExistsError.
  if (n.endsWith('ExistsError')) return status.ALREADY_EXISTS;
  if (n.endsWith('UnavailableError')) return status.UNAVAILABLE;
  // ContainerdError and other errors that already carry a gRPC code (a number in range).
  const code = field(err, 'code');
  if (typeof code === 'number' && Number.isInteger(code) && code > 0 && code <= 16) return code as status;
  return status.INTERNAL;
}

/** Longest status message sent; it travels as a percent-encoded HTTP/2 trailer. */
export const MAX_DETAILS = 2048;

/**
 * Makes a message safe to send as grpc-message. Found by the chaos suite's API fuzzing (R4): (1) a lone
 * UTF-16 surrogate (an error quoting part of a client's string) made grpc-js's encodeURI throw URIError
 * outside any handler, which killed berthd; (2) an error quoting a 1 MiB name produced a trailer larger than
 * the client accepts, so the call never completed (a hang until its deadline). Lone surrogates become
 * U+FFFD and long messages are cut (the field name leads the message, so it survives the cut).
 */
export function safeDetails(message: string): string {
  const wellFormed = message.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  if (wellFormed.length <= MAX_DETAILS) return wellFormed;
  // Do not cut a surrogate pair in half.
  const cut = /[\uD800-\uDBFF]/.test(wellFormed[MAX_DETAILS - 1]!) ? MAX_DETAILS - 1 : MAX_DETAILS;
  return `${wellFormed.slice(0, cut)}… (${wellFormed.length - cut} more characters)`;
}

/** A status object for a grpc-js callback or `call.destroy`/`emit('error')`. */
export function toStatus(err: unknown): Partial<StatusObject> {
  let message = err instanceof Error ? err.message : String(err);
  const code = grpcCodeOf(err);
  // Duck-typed validation errors from other modules carry the field in `path` but may not lead with it
  // (an invalid image reference did not): the field leads every INVALID_ARGUMENT message (chaos suite R4).
  const at = field(err, 'path');
  if (code === status.INVALID_ARGUMENT && typeof at === 'string' && at !== '' && !message.startsWith(`${at}:`)) message = `${at}: ${message}`;
  return { code, details: safeDetails(message), metadata: new Metadata() };
}
