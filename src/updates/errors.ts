// The updater's refusals, each with a kind the API maps to a status code.

export type UpdateErrorKind =
  /** Another update operation runs; the message names it. */
  | 'busy'
  /** The operation does not apply in the current state (apply with nothing available, cancel when idle). */
  | 'state'
  /** A setting the operation needs is unset or unusable; the message names the key. */
  | 'config'
  /** The repository refused (signature, expiry, rollback, bytes) or could not be read. */
  | 'repository'
  /** The installer failed. */
  | 'install'
  /** A settings migration of the update failed its dry run; the message names the migration and the key. */
  | 'migration'
  /** Cancelled by `update cancel`. */
  | 'cancelled'
  /** `updates.reboot-command` failed (it exited non-zero, or could not start). */
  | 'reboot'
  /** No reboot slot (or FleetLock lock) was granted within the caller's wait; nothing was taken. */
  | 'no-slot';

/** gRPC status codes by kind (numbers, so this module needs no gRPC library; the API reads `code`). */
const CODES: Record<UpdateErrorKind, number> = {
  busy: 10, // ABORTED: retry when the running operation ends
  state: 9, // FAILED_PRECONDITION
  config: 9,
  repository: 9,
  install: 9,
  migration: 9,
  cancelled: 1, // CANCELLED
  reboot: 13, // INTERNAL
  'no-slot': 8, // RESOURCE_EXHAUSTED: the group's slots; retry later (berth-apiclient answers 423, as brupop retries)
};

export class UpdateError extends Error {
  override readonly name = 'UpdateError';
  readonly code: number;
  constructor(readonly kind: UpdateErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = CODES[kind];
  }
}

/** Runs an installer step; its failure becomes UpdateError 'install', naming the step (an UpdateError stays). */
export async function installerStep(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof UpdateError) throw err;
    throw new UpdateError('install', `installer (${what}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
