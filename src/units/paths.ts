// Path rules shared by validation and the spec builder. Paths here are always
// container or host paths on Linux, so only POSIX semantics apply.
import { posix } from 'node:path';

/** Why `p` is not an absolute, normalised path without `..`, or undefined when it is. */
export function absolutePathProblem(p: string): string | undefined {
  if (!p.startsWith('/')) return 'must be an absolute path';
  if (p.includes('\0')) return 'must not contain NUL characters';
  if (p.split('/').includes('..')) return 'must not contain ".." components';
  if (p !== '/' && (posix.normalize(p) !== p || p.endsWith('/'))) {
    return 'must be a normalised path (no ".", "//" or trailing "/")';
  }
  return undefined;
}

/** Component-aware containment: "/a/b" is within "/a", "/ab" is not. Both are resolved first. */
export function isWithin(child: string, parent: string): boolean {
  const c = posix.resolve('/', child);
  const p = posix.resolve('/', parent);
  return p === '/' || c === p || c.startsWith(`${p}/`);
}

/** True when one path is the other or contains it (a bind of either exposes the other). */
export function overlaps(a: string, b: string): boolean {
  return isWithin(a, b) || isWithin(b, a);
}

/** Number of components, used to mount parents before children. */
export function depth(p: string): number {
  return p.split('/').filter((s) => s !== '').length;
}
