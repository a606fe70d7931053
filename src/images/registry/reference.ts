// Image references as the Go client (distribution/reference) normalises them: `busybox` is
// `docker.io/library/busybox:latest`, and docker.io is served by registry-1.docker.io.

export interface ImageReference {
  /** Registry name as written in references (`docker.io`, `127.0.0.1:5000`). */
  readonly domain: string;
  /** Repository path inside the registry (`library/busybox`). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** The normalised full name, also the containerd image record's name. */
  readonly name: string;
}

export class InvalidReferenceError extends Error {
  override readonly name: string = 'ReferenceValidationError';
  readonly path = 'ref';
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Whether the first path component names a registry rather than a Docker Hub namespace. */
const isDomain = (c: string): boolean => c.includes('.') || c.includes(':') || c === 'localhost';

export function parseReference(ref: string): ImageReference {
  const bad = (why: string): InvalidReferenceError => new InvalidReferenceError(`invalid image reference ${JSON.stringify(ref)}: ${why}`);
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('digest must be sha256:<64 hex>');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`bad tag ${JSON.stringify(tag)}`);
  }
  const parts = rest.split('/');
  let domain = 'docker.io';
  if (parts.length > 1 && isDomain(parts[0]!)) domain = parts.shift()!;
  if (domain === 'index.docker.io' || domain === 'registry-1.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (parts.length === 0 || parts.some((p) => !PATH_COMPONENT.test(p))) throw bad('repository path must be lowercase [a-z0-9._-] components');
  const repository = parts.join('/');
  if (!tag && !digest) tag = 'latest';
  const name = `${domain}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { domain, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), name };
}

/** The host that serves a registry's API. */
export function apiHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export const manifestReference = (r: ImageReference): string => r.digest ?? r.tag ?? 'latest';
