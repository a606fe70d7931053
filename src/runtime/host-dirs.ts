import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { HostDir } from '../ocispec/types.js';

/**
 * Create a unit's persistent dir and write its decoded user-data there. Nothing in the path may be a
 * symlink (a container could plant one to make berthd write elsewhere): directories are checked with
 * lstat, and the file is written under a fresh name with O_NOFOLLOW|O_EXCL, then renamed over (rename
 * replaces a planted symlink itself, never its target).
 */
export async function preparePersistentDir(root: string, dir: string, userData: string | undefined): Promise<void> {
  const rel = path.relative(root, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${dir} is outside ${root}`);
  await mkdir(root, { recursive: true, mode: 0o700 });
  let current = root;
  for (const part of rel.split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    await mkdir(current, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    const st = await lstat(current);
    if (!st.isDirectory() || st.isSymbolicLink()) throw new Error(`${current} is not a directory (refusing to follow a symlink)`);
  }
  const target = path.join(dir, 'user-data');
  if (userData === undefined) {
    await rm(target, { force: true });
    return;
  }
  const tmp = path.join(dir, `.user-data.${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(Buffer.from(userData, 'base64'));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, target);
}

/** Make a start's host dirs (from its SpecPlan), in order. */
export async function prepareHostDirs(dirs: readonly HostDir[]): Promise<void> {
  for (const d of dirs) await preparePersistentDir(d.root, d.path, d.userData);
}
