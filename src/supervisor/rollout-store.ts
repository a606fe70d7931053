import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../util/atomic-file.js';
import type { Rollout } from './rollout-state.js';

/** Rollouts kept per unit (the running one included), newest last. */
export const ROLLOUT_HISTORY_MAX = 20;

const PHASES = new Set(['pulling', 'replacing', 'watching', 'rolling-back', 'done']);

/** A file that is not a rollout is skipped, not trusted: berthd must start whatever the state dir holds. */
function isRollout(v: unknown): v is Rollout {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const image = (i: unknown): boolean => typeof i === 'object' && i !== null && typeof (i as Record<string, unknown>).ref === 'string' && typeof (i as Record<string, unknown>).digest === 'string';
  return typeof r.unit === 'string' && typeof r.id === 'number' && PHASES.has(String(r.phase)) && typeof r.outcome === 'string' && image(r.from) && image(r.to)
    && typeof r.fromHash === 'string' && typeof r.toHash === 'string' && typeof r.restoreRef === 'string' && typeof r.watchMs === 'number' && typeof r.startedAt === 'string';
}

/**
 * Each unit's rollouts, in memory and (with a dir) one JSON file per unit, written atomically at every
 * phase change: a berthd killed in the middle of a rollout finds where it was (rollout.ts `recover`).
 */
export class RolloutStore {
  private readonly byUnit = new Map<string, Rollout[]>();
  private writes = new Map<string, Promise<void>>();

  /** `dir` undefined: memory only (tests, tools). */
  constructor(private readonly dir?: string) {}

  async load(onBadFile: (file: string, why: string) => void): Promise<void> {
    if (!this.dir) return;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = path.join(this.dir, name);
      try {
        const data = await readJsonFile(file);
        const list = Array.isArray(data) ? data.filter(isRollout) : [];
        if (list.length > 0) this.byUnit.set(list[0]!.unit, list.slice(-ROLLOUT_HISTORY_MAX));
      } catch (e) {
        onBadFile(file, e instanceof Error ? e.message : String(e));
      }
    }
  }

  history(unit: string): Rollout[] {
    return [...(this.byUnit.get(unit) ?? [])];
  }

  latest(unit: string): Rollout | undefined {
    return this.byUnit.get(unit)?.at(-1);
  }

  nextId(unit: string): number {
    return (this.latest(unit)?.id ?? 0) + 1;
  }

  /** Record `r` (a new rollout, or the latest one's next step) and persist; resolves once on disk. */
  save(r: Rollout): Promise<void> {
    const list = this.byUnit.get(r.unit) ?? [];
    if (list.at(-1)?.id === r.id) list[list.length - 1] = r;
    else list.push(r);
    while (list.length > ROLLOUT_HISTORY_MAX) list.shift();
    this.byUnit.set(r.unit, list);
    if (!this.dir) return Promise.resolve();
    const dir = this.dir;
    const snapshot = JSON.stringify(list, null, 1);
    // One unit's writes in order, so an older snapshot never lands after a newer one.
    const prev = this.writes.get(r.unit) ?? Promise.resolve();
    const next = prev.then(async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(path.join(dir, `${r.unit}.json`), snapshot, { mode: 0o600 });
    });
    this.writes.set(r.unit, next.catch(() => undefined));
    return next;
  }
}
