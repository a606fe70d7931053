// Opening an archive named by an API caller without ever blocking berthd's libuv thread pool.
//
// `images import PATH` sends the path; berthd (root) opens it. A blocking open(2) runs on one of the pool's 4
// threads: on a FIFO with no writer it never returns, so five imports of a FIFO used to take every thread
// and every later fs call of berthd (a settings commit, a log write) waited behind them. Rules here:
// - stat(2) first and refuse anything but a regular file before opening it: opening a device can have side
//   effects (a tty, /dev/watchdog) and reading one may never end (/dev/zero) or block (a tty);
// - then open with O_NONBLOCK, so even a FIFO swapped in after the stat opens at once, and O_NOCTTY;
// - then fstat the fd and require the very file that was stat'ed (same dev/inode, still regular): the
//   check is on what was opened, so a rename race cannot slip a FIFO or device past it.
// Symlinks are followed on purpose: an operator may point at an archive through one (`current.tar`), and
// O_NOFOLLOW would add nothing — whoever can call the API can name the target path directly.
import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

/** What a non-regular file is, in the operator's words. */
export function fileKind(s: Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  if (s.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function notRegular(file: string, s: Stats): ImportError {
  return new ImportError(`images import: ${file} is ${fileKind(s)}, not a regular file`);
}

export interface OpenedArchive {
  fh: FileHandle;
  size: number;
}

/** Open `file` for reading if, and only if, it is a regular file; the caller closes `fh`. */
export async function openArchive(file: string): Promise<OpenedArchive> {
  const before = await stat(file);
  if (!before.isFile()) throw notRegular(file, before);
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const s = await fh.stat();
    if (!s.isFile()) throw notRegular(file, s);
    if (s.dev !== before.dev || s.ino !== before.ino) throw new ImportError(`images import: ${file} was replaced while it was being opened`);
    return { fh, size: s.size };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}
