// loadUnits: reads unit directories in order; a later directory overrides an
// earlier one by unit name (vendor defaults, then the operator's overrides).
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { checkDependencies, type LoadedUnit } from './deps.js';
import type { UnitError } from './errors.js';
import { unitNameProblem } from './names.js';
import { parseUnit } from './parse.js';
import type { UnitSpec } from './types.js';

export const DEFAULT_UNIT_DIRS: readonly string[] = ['/usr/share/berth/units', '/etc/berth/units.d'];

export interface LoadResult {
  units: Map<string, UnitSpec>;
  errors: UnitError[];
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Unit file names in a directory, sorted; [] when the directory does not exist. */
async function listUnitFiles(dir: string, errors: UnitError[]): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    const code = errno(e);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') errors.push({ file: dir, path: '(directory)', message: `cannot be read: ${reason(e)}` });
    return [];
  }
  // Dotfiles are editor/lock files (".#admin.toml"), never units.
  return names.filter((n) => n.endsWith('.toml') && !n.startsWith('.')).sort();
}

async function loadFile(file: string, errors: UnitError[]): Promise<UnitSpec | undefined> {
  let text: string;
  try {
    if (!(await stat(file)).isFile()) return undefined;
    text = await readFile(file, 'utf8');
  } catch (e) {
    errors.push({ file, path: '(file)', message: `cannot be read: ${reason(e)}` });
    return undefined;
  }
  const result = parseUnit(text, file);
  if (!result.ok) {
    errors.push(...result.errors);
    return undefined;
  }
  const expected = basename(file, '.toml');
  if (result.unit.name !== expected) {
    errors.push({ file, path: 'name', message: `must equal the file name "${expected}" (got "${result.unit.name}")` });
    return undefined;
  }
  return result.unit;
}

export async function loadUnits(dirs: readonly string[] = DEFAULT_UNIT_DIRS): Promise<LoadResult> {
  const errors: UnitError[] = [];
  const loaded = new Map<string, LoadedUnit>();
  const failed = new Set<string>();
  try {
    for (const dir of dirs) {
      for (const entry of await listUnitFiles(dir, errors)) {
        const file = join(dir, entry);
        const name = basename(entry, '.toml');
        const nameProblem = unitNameProblem(name);
        if (nameProblem !== undefined) {
          errors.push({ file, path: '(file name)', message: `"${name}" is not a valid unit name: ${nameProblem}` });
          continue;
        }
        const before = errors.length;
        const unit = await loadFile(file, errors);
        if (unit !== undefined) {
          loaded.set(name, { unit, file });
          failed.delete(name);
          continue;
        }
        if (errors.length === before) continue; // not a regular file
        const previous = loaded.get(name);
        if (previous !== undefined) {
          // A broken override must not silently remove a working unit (e.g. the control container).
          errors.push({ file, path: 'name', message: `this override is invalid; the unit from ${previous.file ?? 'an earlier directory'} stays in effect` });
        } else {
          failed.add(name);
        }
      }
    }
  } catch (e) {
    errors.push({ path: '(loader)', message: `unexpected error: ${reason(e)}` });
  }
  const checked = checkDependencies(loaded, failed);
  errors.push(...checked.errors);
  const units = new Map<string, UnitSpec>();
  for (const [name, entry] of checked.units) units.set(name, entry.unit);
  return { units, errors };
}
