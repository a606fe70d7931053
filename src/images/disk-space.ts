// Will an import fit? A pure decision (sizes + statfs figures → ok / refuse with the reason) and the thin
// I/O around it: which filesystems hold containerd's content store and snapshots (asked from containerd
// itself, so it holds for a managed and an external containerd alike) and their statfs figures.
import { statfs } from 'node:fs/promises';
import type { ContainerdClient } from '../containerd/client.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** The statfs figures the decision needs (the fields of node's StatFs with the same names). */
export interface FsFigures {
  /** Block size in bytes. */
  bsize: number;
  /** Total blocks. */
  blocks: number;
  /** Blocks free for unprivileged users: what is left once the filesystem's own root reserve is kept. */
  bavail: number;
}

/**
 * Space an import must leave free: 5 % of the filesystem, at least 16 MiB, at most 1 GiB. What it protects
 * is berthd's own writes (settings commits, unit logs), containerd's bolt database and the containers'
 * writable layers — tens to hundreds of MiB, not a share of the disk — so it is capped at 1 GiB (5 % of a
 * 1 TB disk idle would be waste) and not floored at 1 GiB either: the VM image's state disk is 2 GiB, and a
 * 1 GiB floor would make half of it, or all of a small disk, unusable for images. `bavail` already leaves
 * ext4's root-reserved blocks aside, so this comes on top of them.
 */
export function reserveFor(fs: FsFigures): number {
  const size = fs.bsize * fs.blocks;
  return Math.min(GiB, Math.max(16 * MiB, Math.round(size * 0.05)));
}

export type SpaceDecision =
  | { ok: true; free: number; reserve: number }
  | { ok: false; free: number; reserve: number; message: string };

/** Bytes as the operator reads them: 1.5 GiB, 200 MiB, 512 B. */
export function humanSize(n: number): string {
  const units: [string, number][] = [['TiB', 1024 ** 4], ['GiB', GiB], ['MiB', MiB], ['KiB', 1024]];
  for (const [u, f] of units) if (n >= f) return `${(n / f).toFixed(n % f === 0 ? 0 : 1)} ${u}`;
  return `${n} B`;
}

/** May `need` more bytes be written to the filesystem `fs` (mounted at/holding `where`)? */
export function decideSpace(need: number, fs: FsFigures, what: string, where: string): SpaceDecision {
  const free = fs.bavail * fs.bsize;
  const reserve = reserveFor(fs);
  if (need <= free - reserve) return { ok: true, free, reserve };
  return {
    ok: false, free, reserve,
    message: `${what} needs ${humanSize(need)} but ${where} has ${humanSize(free)} free, of which ${humanSize(reserve)} is kept in reserve`,
  };
}

/** Not enough disk for an import: RESOURCE_EXHAUSTED (8) on the API, not the caller's mistake. */
export class DiskSpaceError extends Error {
  override readonly name = 'DiskSpaceError';
  readonly code = 8;
}

export async function figuresOf(dir: string): Promise<FsFigures> {
  const s = await statfs(dir);
  return { bsize: s.bsize, blocks: s.blocks, bavail: s.bavail };
}

/** Throws DiskSpaceError unless `need` bytes fit on the filesystem holding `dir`. */
export async function requireSpace(need: number, dir: string, what: string): Promise<void> {
  const d = decideSpace(need, await figuresOf(dir), what, dir);
  if (!d.ok) throw new DiskSpaceError(`images import: ${d.message}`);
}

export interface ContainerdRoots {
  /** Directory of the content store (blobs), if containerd says. */
  content?: string;
  /** Directory of each snapshotter, by id (`overlayfs`). */
  snapshotters: Map<string, string>;
}

/**
 * Where containerd keeps blobs and snapshots: the `root` exports of its content and snapshotter plugins
 * (Introspection.Plugins). containerd runs on this host (berthd reaches it through a unix socket), so the
 * paths are this host's.
 */
export async function containerdRoots(client: ContainerdClient): Promise<ContainerdRoots> {
  const res = await client.unary<{ plugins: { type: string; id: string; exports: Record<string, string> }[] }>('introspection', 'Plugins', { filters: [] }, { timeoutMs: 10_000 });
  const roots: ContainerdRoots = { snapshotters: new Map() };
  for (const p of res.plugins) {
    const root = p.exports?.['root'];
    if (!root) continue;
    if (p.type === 'io.containerd.content.v1') roots.content = root;
    if (p.type === 'io.containerd.snapshotter.v1') roots.snapshotters.set(p.id, root);
  }
  return roots;
}
