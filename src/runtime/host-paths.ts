// The I/O half of workload host-path checking: resolve bind sources the way the kernel would, one component
// at a time with lstat (never trusting a path lexically), and gather the facts the pure rules in
// host-path-rules.ts decide on. Run when a workload is requested and again at every start.
import { lstat, readFile, readlink, statfs } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import type { UnitSpec } from '../units/types.js';
import type { ChainEntry, DeniedRoot, HostPathFacts, HostPathKind, HostPathResolution, MountEntry, PathIdentity } from '../ocispec/host-path-rules.js';

// As the kernel's MAXSYMLINKS: a loop (a -> b -> a) ends with an error rather than forever.
const MAX_SYMLINKS = 40;

function kindOf(st: Stats): HostPathKind {
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'fifo';
  return 'device';
}

function errorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

/**
 * `input` resolved to a physical path: each component is lstat'ed; a symlink's target is spliced in and
 * walked the same way (an absolute target restarts from `/`), `..` goes up from the physical directory,
 * exactly as path resolution in the kernel does. Every component's identity is recorded, so a later
 * resolution can tell whether anything on the way was swapped.
 */
export async function resolveHostPath(input: string): Promise<HostPathResolution> {
  if (!input.startsWith('/')) return { ok: false, requested: input, reason: 'is not an absolute path' };
  if (input.includes('\0')) return { ok: false, requested: input, reason: 'contains a NUL character' };
  try {
    const rootSt = await lstat('/');
    const root: ChainEntry = { path: '/', dev: rootSt.dev, ino: rootSt.ino };
    let chain: ChainEntry[] = [root];
    let last: Stats = rootSt;
    let symlinks = 0;
    const todo = input.split('/').filter((c) => c !== '' && c !== '.');
    while (todo.length > 0) {
      const name = todo.shift()!;
      if (name === '..') {
        if (chain.length > 1) chain.pop();
        last = await lstat(chain[chain.length - 1]!.path);
        continue;
      }
      const cur = chain[chain.length - 1]!.path;
      const next = cur === '/' ? `/${name}` : `${cur}/${name}`;
      const st = await lstat(next);
      if (st.isSymbolicLink()) {
        if (++symlinks > MAX_SYMLINKS) return { ok: false, requested: input, reason: `more than ${MAX_SYMLINKS} symlinks (a loop?)` };
        const target = await readlink(next);
        todo.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
        if (target.startsWith('/')) chain = [root];
        continue;
      }
      if (todo.length > 0 && !st.isDirectory()) return { ok: false, requested: input, reason: `${next} is not a directory` };
      chain.push({ path: next, dev: st.dev, ino: st.ino });
      last = st;
    }
    const resolved = chain[chain.length - 1]!.path;
    const fs = await statfs(resolved);
    return { ok: true, path: { requested: input, resolved, chain, kind: kindOf(last), nlink: last.nlink, fsType: fs.type, symlinks } };
  } catch (e) {
    return { ok: false, requested: input, reason: errorText(e) };
  }
}

export interface HostPathPolicy {
  hostPathAllowList: readonly string[];
  stateDir: string;
  /** Falls back to the API socket's directory when berth's caller does not know its run dir. */
  runDir?: string;
  apiSocketPath: string;
}

async function deniedRoot(path: string, why: string, mode: DeniedRoot['mode']): Promise<DeniedRoot> {
  const r = await resolveHostPath(path);
  // One that does not exist (yet) is still denied, by its lexical path.
  return r.ok ? { path: r.path.resolved, why, mode, chain: r.path.chain } : { path: posix.resolve('/', path), why, mode, chain: [] };
}

/** The deny list: never mountable into a workload, whatever the allow-list says. */
export async function deniedRoots(p: Omit<HostPathPolicy, 'hostPathAllowList'>): Promise<DeniedRoot[]> {
  const socketDir = posix.dirname(posix.resolve('/', p.apiSocketPath));
  return Promise.all([
    deniedRoot('/proc', 'the host\'s /proc', 'inside'),
    deniedRoot('/sys', 'the host\'s /sys', 'inside'),
    deniedRoot('/dev', 'the host\'s /dev', 'inside'),
    deniedRoot(p.stateDir, 'berth\'s state directory', 'overlap'),
    deniedRoot(p.runDir ?? socketDir, 'berth\'s run directory', 'overlap'),
    deniedRoot(socketDir, 'the directory of berth\'s API socket', 'overlap'),
  ]);
}

/** Indices of a unit's bind mounts (the ones whose source is a host path). */
export function bindIndices(unit: UnitSpec): number[] {
  return unit.mounts.flatMap((m, i) => (m.type === 'bind' ? [i] : []));
}

// mountinfo escapes space, tab, newline and backslash in paths as octal.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** berth's mount table, parsed from /proc/self/mountinfo (fields: id parent maj:min root mount-point …). */
export function parseMountinfo(text: string): MountEntry[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split(' ');
    if (f.length < 5) return [];
    return [{ id: Number(f[0]), dev: f[2]!, root: unescape(f[3]!), mountPoint: unescape(f[4]!) }];
  });
}

/** Resolve every bind source of `sources` (by mount index), the allow-list and the deny list. */
export async function hostPathFacts(sources: ReadonlyMap<number, string>, policy: HostPathPolicy): Promise<HostPathFacts> {
  const [resolvedSources, allow, deny, socket, mountinfo] = await Promise.all([
    Promise.all([...sources].map(async ([i, s]) => [i, await resolveHostPath(s)] as const)),
    Promise.all(policy.hostPathAllowList.filter((a) => a.startsWith('/')).map((a) => resolveHostPath(a))),
    deniedRoots(policy),
    lstat(policy.apiSocketPath).then((st): PathIdentity => ({ dev: st.dev, ino: st.ino }), () => undefined),
    // Only when there is something to check: a host's mount table can be long.
    sources.size > 0 ? readFile('/proc/self/mountinfo', 'utf8') : Promise.resolve(''),
  ]);
  return {
    sources: Object.fromEntries(resolvedSources),
    allow: allow.flatMap((r) => (r.ok ? [r.path.resolved] : [])),
    deny,
    ...(socket ? { apiSocket: socket } : {}),
    mounts: parseMountinfo(mountinfo),
  };
}

/** Facts for a workload unit's bind mounts (units of other classes have none to check). */
export function unitHostPathFacts(unit: UnitSpec, policy: HostPathPolicy): Promise<HostPathFacts> {
  const sources = new Map<number, string>();
  for (const i of bindIndices(unit)) {
    const m = unit.mounts[i]!;
    if (m.type === 'bind') sources.set(i, m.source);
  }
  return hostPathFacts(sources, policy);
}
