// berthctl's exit codes and the errors that choose them: 0 ok, 1 the operation failed (including errors the
// server reported), 2 the command line was wrong. Scripts rely on telling "bad invocation" from "failed".
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A command line that cannot be right whatever the daemon says (`set` with no assignments, …). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The operation failed and has already told the user why (validate's per-file errors). */
export class ReportedFailure extends Error {
  override readonly name = 'ReportedFailure';
  constructor(readonly exitCode: number = EXIT_FAILURE) {
    super('failed');
  }
}
