// The workload room's failures. They say what went wrong in workload terms and know nothing of gRPC: the
// API maps them to codes by name (src/api/errors.ts: …ValidationError → INVALID_ARGUMENT, …NotFoundError →
// NOT_FOUND, …ExistsError → ALREADY_EXISTS), so this room imports nothing of the API.

/** A request the policy refuses. `path` names the request field at fault (`mounts[0].source`), and leads the message. */
export class WorkloadValidationError extends Error {
  override readonly name: string = 'WorkloadValidationError';
  constructor(readonly path: string, reason: string) {
    // The same wording as the API's ValidationError, so a client sees the field first whichever threw.
    super(path === '' || reason.startsWith(`${path}:`) ? reason : `${path}: ${reason}`);
  }
}

export class WorkloadNotFoundError extends Error {
  override readonly name: string = 'WorkloadNotFoundError';
  constructor(readonly workload: string) {
    super(`workload ${JSON.stringify(workload)} not found`);
  }
}

export class WorkloadExistsError extends Error {
  override readonly name: string = 'WorkloadExistsError';
  constructor(readonly workload: string) {
    super(`workload ${JSON.stringify(workload)} already exists; remove it first or pick another name`);
  }
}
