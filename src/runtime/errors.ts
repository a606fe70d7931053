// The runtime layer's own failures. Every backend (containerd, Docker) throws these, translated from its
// engine's errors, so callers (the supervisor, workloads) branch on the kind without knowing which engine
// answered, and import nothing of containerd or dockerode to do it. The API maps them to gRPC codes by
// name (src/api/errors.ts): …NotFoundError → NOT_FOUND, …ExistsError → ALREADY_EXISTS, …UnavailableError
// → UNAVAILABLE.
import { AlreadyExistsError as ContainerdAlreadyExistsError } from '../containerd/errors.js';

/** The engine cannot be reached (containerd restarting, Docker's socket gone); the caller may retry. */
export class RuntimeUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RuntimeUnavailableError';
  }
}

/** A container, task or process the call names does not exist (any more). */
export class NotFoundError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NotFoundError';
  }
}

/** gRPC ALREADY_EXISTS, the code containerd's errdefs use; kept on the error while it extends containerd's. */
const ALREADY_EXISTS = 6;

/**
 * A container of that id exists already (a leftover of a crash between create and start).
 *
 * Transitional: it extends containerd's class only so that code still catching
 * `AlreadyExistsError` from src/containerd/errors.ts (the supervisor, being split in parallel) keeps
 * working. Once the supervisor imports this class instead, drop the `extends` (make it `extends Error`
 * with `this.name = 'AlreadyExistsError'`) and this module's import of containerd.
 */
export class AlreadyExistsError extends ContainerdAlreadyExistsError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ALREADY_EXISTS, 'runtime.create');
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
