// The runtime layer's own failures. Every backend (containerd, Docker) throws these, translated from its
// engine's errors, so callers (the supervisor, workloads) branch on the kind without knowing which engine
// answered, and import nothing of containerd or dockerode to do it. The API maps them to gRPC codes by
// name (src/api/errors.ts): …NotFoundError → NOT_FOUND, …ExistsError → ALREADY_EXISTS, …UnavailableError
// → UNAVAILABLE.
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

/** A container of that id exists already (a leftover of a crash between create and start). */
export class AlreadyExistsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AlreadyExistsError';
  }
}

/**
 * The host refuses this start (a spec it will not run, a host path that is not what was checked): retrying
 * cannot help, so a supervisor fails the unit at once instead of backing off.
 */
export class StartRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartRefusedError';
  }
}
