// Apart from ./repository.ts so the updater can tell a repository's refusal from an install failure without
// loading tuf-js, which it does only when it checks or downloads.

/** The repository refused (or could not be read); `message` names the file and what was wrong. */
export class RepositoryError extends Error {
  override readonly name = 'RepositoryError';
}
