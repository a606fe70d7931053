// The local API socket's safety: who may connect is decided by file permissions (0660, group `berth`), so the
// socket must never be reachable with looser permissions, not even for the instant between bind and chmod.
// We bind under a temporary name, fix owner and mode, then rename it into place.
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export const SOCKET_MODE = 0o660;
export const SOCKET_GROUP = 'berth';

/** gid of `group` from an /etc/group-format file, or undefined when there is no such group. */
export async function groupId(group: string, groupFile = '/etc/group'): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/**
 * Creates the socket's directory if needed and refuses one that anybody may write to: there, another user
 * could replace our socket with theirs and collect what clients send.
 */
export async function prepareSocketDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const st = await stat(dir);
  if ((st.mode & 0o002) !== 0) {
    throw new Error(`refusing to serve the API in ${dir}: the directory is world-writable (mode ${(st.mode & 0o7777).toString(8)})`);
  }
}

function probe(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

/**
 * Removes a socket file left behind by a berthd that died. Refuses to remove a socket somebody still listens
 * on (a second berthd would otherwise silently steal the first one's clients) or anything that is not a socket.
 */
export async function removeStaleSocket(socketPath: string): Promise<void> {
  let st;
  try {
    st = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to remove it`);
  if (await probe(socketPath)) throw new Error(`another server is already listening on ${socketPath}`);
  await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** A unique temporary name beside the final socket (same directory, so rename is atomic). */
export function temporarySocketPath(socketPath: string): string {
  return path.join(path.dirname(socketPath), `.${path.basename(socketPath)}.${process.pid}.${randomBytes(3).toString('hex')}`);
}

/**
 * Sets mode 0660 and, when the group exists, owner root-or-us : berth; then renames into place. Returns the
 * inode so shutdown removes only its own socket, never one a newer berthd has since bound.
 */
export async function publishSocket(tempPath: string, socketPath: string, gid: number | undefined): Promise<number> {
  await chmod(tempPath, SOCKET_MODE);
  if (gid !== undefined) await chown(tempPath, process.getuid?.() ?? 0, gid);
  await rename(tempPath, socketPath);
  return (await lstat(socketPath)).ino;
}

/** Removes the socket if it is still the one we published. */
export async function unpublishSocket(socketPath: string, ino: number): Promise<void> {
  try {
    const st = await lstat(socketPath);
    if (st.ino === ino) await unlink(socketPath);
  } catch {
    // Already gone: nothing to clean up.
  }
}
