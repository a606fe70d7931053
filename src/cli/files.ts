// Reading a file the user named: a missing or unreadable file is one line saying so, never a stack or a
// bare errno.

/** Why `file` could not be read, as a person would say it. */
export function unreadable(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT': return 'file does not exist';
    case 'EISDIR': return 'is a directory, not a file';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    default: return `cannot read: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export class UnreadableFileError extends Error {
  override readonly name = 'UnreadableFileError';
  constructor(file: string, err: unknown) {
    super(`${file}: ${unreadable(err)}`);
  }
}

export async function readUserFile(file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UnreadableFileError(file, err);
  }
}
