// Crash-safe whole-file replacement for small state files (settings, and later other daemon state).
//
// The protocol is the classic one: write a temp file in the *same directory* (rename is only atomic within
// one filesystem), fsync it (so the rename can never expose a file whose data blocks are not on disk yet),
// rename it over the target (atomic: readers see the old or the new file, never a mix), then fsync the
// directory (so the rename itself survives a power cut). A crash at any point leaves the old file or the new
// one, plus at worst a stray temp file, which the owner removes with `removeStaleTempFiles` on load.

import { randomBytes } from 'node:crypto';
import { open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface WriteFileAtomicOptions {
  /** File mode for the new file (default 0o644). Secrets should use 0o600. */
  readonly mode?: number;
}

/** Which step of the protocol failed; `replaced` says whether the target already holds the new data. */
export class AtomicWriteError extends Error {
  override readonly name = 'AtomicWriteError';
  constructor(
    readonly path: string,
    readonly step: 'write' | 'rename' | 'sync-dir',
    /** True only when the rename happened but the directory fsync failed: the new data is visible but its
     *  durability is unknown. Callers that promise "old or new" may want to roll back. */
    readonly replaced: boolean,
    cause: unknown,
  ) {
    super(`writing ${path} failed at ${step}: ${describe(cause)}`, { cause });
  }
}

/** Errors from node carry a `code` (ENOSPC, EROFS, …); keep it visible in the message. */
function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}

/** Temp files are hidden siblings named after the target so that the owner can find and remove leftovers. */
export function tempFilePrefix(path: string): string {
  return `.${basename(path)}.tmp-`;
}

export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `${tempFilePrefix(path)}${process.pid}-${randomBytes(6).toString('hex')}`);
  let step: AtomicWriteError['step'] = 'write';
  try {
    // 'wx': never follow or reuse something already sitting at the temp name.
    const handle = await open(temp, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    step = 'rename';
    await rename(temp, path);
    step = 'sync-dir';
    await syncDirectory(dir);
  } catch (cause) {
    if (step !== 'sync-dir') await unlink(temp).catch(() => undefined);
    throw new AtomicWriteError(path, step, step === 'sync-dir', cause);
  }
}

/** fsync on a directory handle persists its entries (the rename). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads and parses a JSON file. Returns `undefined` when the file does not exist (first boot is not an
 * error); any other failure, including malformed JSON, throws with the path in the message.
 */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${describe(err)}`);
  }
}

/**
 * Removes temp files a crashed writer left next to `path`. Only the file's single owner may call this
 * (typically once, on load), since it would also remove a concurrent writer's in-progress temp file.
 * Returns the names removed.
 */
export async function removeStaleTempFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const prefix = tempFilePrefix(path);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const stale = entries.filter((name) => name.startsWith(prefix));
  for (const name of stale) await unlink(join(dir, name)).catch(() => undefined);
  return stale;
}
