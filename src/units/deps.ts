// Dependency checks that need every unit: unknown targets, class direction
// and cycles. A unit with a broken dependency is dropped (and so are units
// depending on it) rather than started in an order that cannot work.
import type { UnitError } from './errors.js';
import type { UnitSpec } from './types.js';

export interface LoadedUnit {
  unit: UnitSpec;
  file?: string;
}

function problem(entry: LoadedUnit, index: number, message: string): UnitError {
  const e: UnitError = { path: `depends-on[${index}]`, message };
  return entry.file === undefined ? e : { ...e, file: entry.file };
}

/**
 * Returns the units whose whole dependency graph is valid, plus one error per
 * broken edge or cycle member. `failed` names units whose files had errors,
 * so a dependency on them is reported as such rather than as "unknown".
 */
export function checkDependencies(
  units: ReadonlyMap<string, LoadedUnit>,
  failed: ReadonlySet<string> = new Set(),
): { units: Map<string, LoadedUnit>; errors: UnitError[] } {
  const kept = new Map(units);
  const errors: UnitError[] = [];
  const names = () => [...kept.keys()].sort();

  // Repeat until stable: dropping one unit can break the units depending on it.
  for (;;) {
    let changed = false;
    for (const name of names()) {
      const entry = kept.get(name);
      if (entry === undefined) continue;
      const own: UnitError[] = [];
      entry.unit.dependsOn.forEach((dep, i) => {
        const target = kept.get(dep);
        if (target === undefined) {
          own.push(problem(entry, i, units.has(dep) || failed.has(dep)
            ? `unit "${dep}" was not loaded because of its own errors`
            : `unknown unit "${dep}"`));
        } else if (entry.unit.class === 'bootstrap' && target.unit.class !== 'bootstrap') {
          // Bootstrap units finish before host units and workloads start, so this could never be satisfied.
          own.push(problem(entry, i, `bootstrap units may only depend on bootstrap units ("${dep}" is ${target.unit.class})`));
        }
      });
      if (own.length > 0) {
        errors.push(...own);
        kept.delete(name);
        changed = true;
      }
    }
    if (changed) continue;
    const cycles = findCycles(kept);
    if (cycles.length === 0) break;
    for (const cycle of cycles) {
      for (const name of cycle) {
        const entry = kept.get(name);
        if (entry === undefined) continue;
        const i = entry.unit.dependsOn.findIndex((d) => cycle.includes(d));
        errors.push(problem(entry, Math.max(0, i), `dependency cycle among ${cycle.join(', ')}`));
      }
      for (const name of cycle) kept.delete(name);
    }
  }
  return { units: kept, errors };
}

/** Groups of units that depend on each other in a cycle (Tarjan's SCCs of size > 1; each group sorted). */
export function findCycles(units: ReadonlyMap<string, LoadedUnit>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];

  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of units.get(v)?.unit.dependsOn ?? []) {
      if (!units.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const name of [...units.keys()].sort()) if (!index.has(name)) visit(name);
  return cycles;
}

/** Bootstrap units in run order: (order, name). */
export function bootstrapRunOrder(units: Iterable<UnitSpec>): UnitSpec[] {
  return [...units]
    .filter((u) => u.class === 'bootstrap')
    .sort((a, b) => (a.bootstrap?.order ?? 0) - (b.bootstrap?.order ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
