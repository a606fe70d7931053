// Rules for the variable parts of setting keys (`host-containers.<name>.…`, `container-registry.mirrors.<registry>`).
// Each returns a human-readable problem or undefined. Container names become container ids, directory names
// under /local/host-containers and systemd-ish unit names, hence the strict alphabet: no `..`, `/` or NUL can
// ever reach a path join.

const NAME_MAX = 76;
const NAME_RE = /^[A-Za-z0-9-]+$/;

export function containerNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'name must not be empty';
  if (name.length > NAME_MAX) return `name is ${name.length} characters, at most ${NAME_MAX} allowed`;
  if (name.includes('\0')) return 'name must not contain NUL';
  if (name.includes('/')) return 'name must not contain "/"';
  if (name.includes('..')) return 'name must not contain ".."';
  if (!NAME_RE.test(name)) return 'name may only contain ASCII letters, digits and "-"';
  return undefined;
}

// RFC 1123 labels, optional port. IPv6 literals are not supported (registries are addressed by name).
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*(?::([0-9]{1,5}))?$`);
const HOST_MAX = 253;

export function registryHostProblem(host: string): string | undefined {
  const match = HOST_RE.exec(host);
  if (!match || host.length > HOST_MAX + 6) return 'expected a registry host name, optionally with :port';
  const port = match[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return `port ${port} out of range`;
  return undefined;
}

/** Mirrors accept `*` as the fallback for every registry (as containerd's and Bottlerocket's config do). */
export function mirrorHostProblem(host: string): string | undefined {
  return host === '*' ? undefined : registryHostProblem(host);
}

const TRANSACTION_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function transactionNameProblem(tx: string): string | undefined {
  return TRANSACTION_NAME.test(tx) ? undefined : 'a transaction name is 1-64 of A-Z a-z 0-9 . _ -';
}
