// The pure half of workload host-path checking: given what the filesystem said about each bind source (the
// I/O half, host-paths.ts, walks it component by component with lstat), decide whether a workload may
// mount it. Nothing here touches the filesystem, so spec building stays pure and the rules are unit-tested
// with made-up resolutions.
import { isWithin, overlaps } from '../units/paths.js';
import type { UnitError } from '../units/errors.js';

/** A file's identity: what a bind mount or a hard link shares with the original. */
export interface PathIdentity { dev: number; ino: number }

/** One walked component: the symlink-free path so far and the identity of what it names. */
export interface ChainEntry extends PathIdentity { path: string }

export type HostPathKind = 'directory' | 'file' | 'socket' | 'device' | 'fifo';

export interface ResolvedHostPath {
  /** The path as the unit or request gave it. */
  requested: string;
  /** Symlink-free, `..`-free absolute path: what runc is handed. */
  resolved: string;
  /** `/`, then every component of `resolved`, each with its identity (the last one is the source itself). */
  chain: ChainEntry[];
  kind: HostPathKind;
  nlink: number;
  /** statfs f_type of the source's filesystem. */
  fsType: number;
  /** Symlinks followed on the way (0 for a path that was already physical). */
  symlinks: number;
}

export type HostPathResolution = { ok: true; path: ResolvedHostPath } | { ok: false; requested: string; reason: string };

/**
 * A tree no workload may reach. `inside`: the root and everything under it (/proc, /sys, /dev);
 * `overlap`: also every ancestor, since binding an ancestor exposes it (berth's state, run and socket dirs).
 */
export interface DeniedRoot {
  path: string;
  why: string;
  mode: 'inside' | 'overlap';
  /** Its resolution chain when it exists: identities of the root and of its ancestors. */
  chain: ChainEntry[];
}

/** One line of /proc/self/mountinfo: which part (`root`) of which filesystem (`dev`) is mounted where. */
export interface MountEntry { id: number; dev: string; root: string; mountPoint: string }

/** Everything the pure check needs, gathered by one I/O step right before it runs. */
export interface HostPathFacts {
  /** By index into unit.mounts (bind mounts only). */
  sources: Record<number, HostPathResolution>;
  /** Allow-list entries, resolved (an entry that does not exist allows nothing). */
  allow: string[];
  deny: DeniedRoot[];
  /** Identity of berth's API socket, when it exists (a hard link of it is the socket too). */
  apiSocket?: PathIdentity;
  /** berth's mount table (/proc/self/mountinfo), to see through bind mounts; absent = not checked. */
  mounts?: MountEntry[];
}

// statfs magic numbers of kernel-interface filesystems: a bind of any part of them hands a workload host
// kernel state, wherever it is mounted (a second procfs under an allowed dir is still procfs).
const KERNEL_FS: Record<number, string> = {
  0x9fa0: 'procfs',
  0x62656572: 'sysfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0xcafe4a11: 'bpf',
  0x62656570: 'configfs',
  0xde5e81e4: 'efivarfs',
  0x6165676c: 'pstore',
  0x1cd1: 'devpts',
  0x42494e4d: 'binfmt_misc',
};

const same = (a: PathIdentity, b: PathIdentity): boolean => a.dev === b.dev && a.ino === b.ino;

function via(p: ResolvedHostPath): string {
  return p.resolved === p.requested ? `host path ${p.requested}` : `host path ${p.requested} (resolves to ${p.resolved})`;
}

const rel = (from: string, to: string): string => (to === from ? '' : from === '/' ? to.slice(1) : to.slice(from.length + 1));
const join = (a: string, b: string): string => (b === '' ? a : a === '/' ? `/${b}` : `${a}/${b}`);

/**
 * The mounts a bind of `p` carries (the one `p` is on, and any mounted below it, which a recursive bind
 * takes along), each with the other places its filesystem shows the same directory: a bind mount is just
 * another name for a directory elsewhere, which lexical and symlink checks cannot see.
 */
function mountAliases(p: string, mounts: readonly MountEntry[]): Array<{ mount: MountEntry; aliases: string[] }> {
  let on: MountEntry | undefined;
  for (const m of mounts) if (isWithin(p, m.mountPoint) && (on === undefined || m.mountPoint.length >= on.mountPoint.length)) on = m;
  const carried = [
    ...(on ? [{ mount: on, fsPath: join(on.root, rel(on.mountPoint, p)) }] : []),
    ...mounts.filter((m) => m.mountPoint !== p && isWithin(m.mountPoint, p)).map((m) => ({ mount: m, fsPath: m.root })),
  ];
  return carried.map(({ mount, fsPath }) => ({
    mount,
    aliases: mounts.filter((n) => n.id !== mount.id && n.dev === mount.dev && isWithin(fsPath, n.root)).map((n) => join(n.mountPoint, rel(n.root, fsPath))),
  }));
}

function deniedAlias(alias: string, facts: HostPathFacts): string | undefined {
  if (alias === '/') return 'the host\'s root filesystem';
  const d = facts.deny.find((x) => (x.mode === 'inside' ? isWithin(alias, x.path) : overlaps(alias, x.path)));
  return d ? `${d.why} (${d.path})` : undefined;
}

function bindProblem(p: ResolvedHostPath, facts: HostPathFacts): string | undefined {
  for (const { mount, aliases } of mountAliases(p.resolved, facts.mounts ?? [])) {
    for (const alias of aliases) {
      const denied = deniedAlias(alias, facts);
      if (denied !== undefined) return `${via(p)} is (inside) a bind mount of ${alias}, which would expose ${denied}`;
    }
    // A mount placed inside an allowed tree (not the allowed dir itself: that is the operator's choice)
    // whose directory is found elsewhere only outside every allowed tree: a bind of an outside directory.
    const placedInside = facts.allow.some((a) => mount.mountPoint !== a && isWithin(mount.mountPoint, a));
    if (placedInside && aliases.length > 0 && !aliases.some((x) => facts.allow.some((a) => isWithin(x, a)))) {
      return `${via(p)} is (inside) a bind mount of ${aliases[0]}, outside the allowed host paths`;
    }
  }
  return undefined;
}

/** Why a workload may not bind this resolved source, or undefined when it may. */
export function hostPathProblem(r: HostPathResolution, facts: HostPathFacts): string | undefined {
  if (!r.ok) return `cannot use host path ${r.requested}: ${r.reason}`;
  const p = r.path;
  const self = p.chain[p.chain.length - 1]!;
  const walked = p.chain.slice(1); // every component but `/` (whose identity every walk starts from)
  if (p.resolved === '/' || (walked.length > 0 && same(self, p.chain[0]!))) return `${via(p)} is the host's root filesystem`;
  if (p.kind === 'socket' || p.kind === 'device' || p.kind === 'fifo') {
    return `${via(p)} is a ${p.kind === 'device' ? 'device node' : p.kind}; workloads may bind only directories and regular files`;
  }
  if (p.kind === 'file' && p.nlink > 1) {
    return `${via(p)} is a file with ${p.nlink} hard links; another name of it may lie outside the allowed host paths`;
  }
  if (facts.apiSocket && same(self, facts.apiSocket)) return `${via(p)} is berth's API socket`;
  const fs = KERNEL_FS[p.fsType];
  if (fs !== undefined) return `${via(p)} is on ${fs}, a kernel interface`;
  for (const d of facts.deny) {
    const target = d.chain[d.chain.length - 1];
    const hit = d.mode === 'inside' ? isWithin(p.resolved, d.path) : overlaps(p.resolved, d.path);
    if (hit) return `${via(p)} would expose ${d.why} (${d.path})`;
    // By identity, so a bind mount of the tree (or, for `overlap`, of an ancestor) elsewhere is caught too.
    if (target && walked.some((c) => same(c, target))) return `${via(p)} is inside a bind mount of ${d.why} (${d.path})`;
    if (d.mode === 'overlap' && d.chain.slice(1).some((c) => same(c, self))) return `${via(p)} is a bind mount of an ancestor of ${d.why} (${d.path})`;
  }
  const bind = bindProblem(p, facts);
  if (bind !== undefined) return bind;
  if (!facts.allow.some((dir) => isWithin(p.resolved, dir))) {
    return `${via(p)} is outside the allowed host paths (${facts.allow.length > 0 ? facts.allow.join(', ') : 'none configured'})`;
  }
  return undefined;
}

/** The pure check for every bind mount of a workload unit: errors name `mounts[i].source`. */
export function checkResolvedSources(indices: readonly number[], facts: HostPathFacts): { errors: UnitError[]; resolved: Map<number, string> } {
  const errors: UnitError[] = [];
  const resolved = new Map<number, string>();
  for (const i of indices) {
    const r = facts.sources[i];
    const problem = r === undefined ? 'was not resolved before the check (refusing rather than trusting it lexically)' : hostPathProblem(r, facts);
    if (problem !== undefined) errors.push({ path: `mounts[${i}].source`, message: problem });
    else if (r?.ok) resolved.set(i, r.path.resolved);
  }
  return { errors, resolved };
}

/** What differs between the resolution that was checked and a fresh one, or undefined when nothing does. */
export function resolutionChange(before: HostPathResolution, now: HostPathResolution): string | undefined {
  if (!before.ok) return now.ok ? 'it can be resolved now' : undefined;
  if (!now.ok) return `it no longer resolves (${now.reason})`;
  const a = before.path;
  const b = now.path;
  if (a.resolved !== b.resolved) return `it resolved to ${a.resolved} when checked and now resolves to ${b.resolved}`;
  if (a.chain.length !== b.chain.length) return `its components changed (${a.chain.length} → ${b.chain.length})`;
  for (let k = 0; k < a.chain.length; k++) {
    const x = a.chain[k]!;
    const y = b.chain[k]!;
    if (!same(x, y)) return `${y.path} was replaced (inode ${x.dev}:${x.ino} → ${y.dev}:${y.ino})`;
  }
  if (a.kind !== b.kind) return `it was a ${a.kind} and is now a ${b.kind}`;
  return undefined;
}
