// Running migrations over the settings tree (the `settings` object of settings.json, operator values only):
// pure functions on a copy, so the same code serves the dry run before a reboot and the run at first boot.
// Each op is idempotent where it can be (renaming or removing an absent key does nothing), so a run cut short
// by a crash can run again from the kept copy with the same result.

import { keyOf, MigrationError, parseKeyPath, type Migration, type MigrationOp } from './format.js';

export type Tree = Record<string, unknown>;
export type Direction = 'up' | 'down';

export interface RunResult {
  readonly settings: Tree;
  /** Dotted keys each migration wrote (set, or renamed to), for naming the migration a bad value came from. */
  readonly written: ReadonlyMap<string, string>;
}

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

function get(tree: Tree, path: readonly string[]): unknown {
  let node: unknown = tree;
  for (const seg of path) {
    if (!isTree(node) || !Object.hasOwn(node, seg)) return undefined;
    node = node[seg];
  }
  return node;
}

/** Removes the value at `path` and any parents it leaves empty; returns it. */
function take(tree: Tree, path: readonly string[]): unknown {
  const parents: Tree[] = [];
  let node: Tree = tree;
  for (const seg of path.slice(0, -1)) {
    const next = node[seg];
    if (!isTree(next)) return undefined;
    parents.push(node);
    node = next;
  }
  const last = path[path.length - 1]!;
  if (!Object.hasOwn(node, last)) return undefined;
  const v = node[last];
  delete node[last];
  for (let i = path.length - 2; i >= 0 && Object.keys(node).length === 0; i--) {
    const parent = parents[i]!;
    delete parent[path[i]!];
    node = parent;
  }
  return v;
}

function put(tree: Tree, path: readonly string[], v: unknown, migration: string): void {
  let node: Tree = tree;
  for (const [i, seg] of path.slice(0, -1).entries()) {
    const next = node[seg];
    if (next === undefined) node[seg] = {};
    else if (!isTree(next)) throw new MigrationError(migration, keyOf(path), `${keyOf(path.slice(0, i + 1))} holds a value, not a table of settings`);
    node = node[seg] as Tree;
  }
  node[path[path.length - 1]!] = structuredClone(v);
}

function runOp(tree: Tree, o: MigrationOp, migration: string, written: Map<string, string>): void {
  if ('rename' in o) {
    const from = parseKeyPath(o.rename);
    const to = parseKeyPath(o.to);
    const v = get(tree, from);
    if (v === undefined) return;
    if (get(tree, to) !== undefined) throw new MigrationError(migration, keyOf(to), `cannot rename ${keyOf(from)} to it: it is already set`);
    if (to.length > from.length && from.every((s, i) => to[i] === s)) throw new MigrationError(migration, keyOf(to), `cannot rename ${keyOf(from)} into itself`);
    take(tree, from);
    put(tree, to, v, migration);
    written.set(keyOf(to), migration);
  } else if ('set' in o) {
    const path = parseKeyPath(o.set);
    if (o['if-unset'] && get(tree, path) !== undefined) return;
    put(tree, path, o.value, migration);
    written.set(keyOf(path), migration);
  } else {
    take(tree, parseKeyPath(o.remove));
  }
}

/**
 * Runs `migrations` in order (`up`), or in reverse order each with its `down` list (`down`: undoing a
 * version's migrations after a rollback), on a copy of `settings`.
 */
export function runMigrations(settings: Tree, migrations: readonly Migration[], direction: Direction): RunResult {
  const tree = structuredClone(settings);
  const written = new Map<string, string>();
  const ordered = direction === 'up' ? migrations : [...migrations].reverse();
  for (const m of ordered) {
    for (const o of direction === 'up' ? m.up : m.down) {
      try {
        runOp(tree, o, m.name, written);
      } catch (err) {
        if (err instanceof MigrationError) throw err;
        throw new MigrationError(m.name, '', (err as Error).message);
      }
    }
  }
  return { settings: tree, written };
}

/** Which migration wrote `key` (or a table holding it), for an error about its value. */
export function writerOf(written: ReadonlyMap<string, string>, key: string): string | undefined {
  let best: string | undefined;
  let bestLen = -1;
  for (const [k, m] of written) {
    if ((key === k || key.startsWith(`${k}.`)) && k.length > bestLen) {
      best = m;
      bestLen = k.length;
    }
  }
  return best;
}
