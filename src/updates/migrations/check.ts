// Migrated settings checked with the real settings schema (the same decoder berthd loads settings.json with),
// so a migration that would leave settings berthd refuses to load fails here, naming the migration and key.

import { decodeSettingsFile, SETTINGS_FILE_VERSION } from '../../settings/persistence.js';
import { resolvePrefix, SettingsError, type SettingValue } from '../../settings/index.js';
import { completenessIssues, overlay } from '../../settings/state.js';
import { MigrationError, parseKeyPath, type Migration } from './format.js';
import { writerOf, type RunResult, type Tree } from './run.js';

export interface CheckOptions {
  /**
   * Dry run on the version before the update: keys a migration writes that this version's schema does not
   * know (a setting the new version introduces) cannot be checked here. They are left out and returned; the
   * new version checks them at its first boot (and fails that boot, which falls back, if they are wrong).
   */
  readonly allowUnknownWritten?: boolean;
  /** The shipped defaults: with them, what the settings store checks when it opens (a host container needs a source). */
  readonly defaults?: ReadonlyMap<string, SettingValue>;
}

/** Throws MigrationError for the first problem; returns the written keys it could not check (see above). */
export function checkMigrated(result: RunResult, migrations: readonly Migration[], o: CheckOptions = {}): string[] {
  const copy = structuredClone(result.settings);
  const unchecked: string[] = [];
  if (o.allowUnknownWritten) {
    for (const key of result.written.keys()) {
      const path = parseKeyPath(key);
      if (resolvePrefix(path.join('.')).ok) continue;
      unchecked.push(key);
      let node: Tree = copy;
      for (const seg of path.slice(0, -1)) node = (node[seg] ?? {}) as Tree;
      delete node[path[path.length - 1]!];
    }
  }
  try {
    const decoded = decodeSettingsFile({ version: SETTINGS_FILE_VERSION, generation: 0, settings: copy }, 'migrated settings');
    const incomplete = o.defaults ? completenessIssues(overlay(o.defaults, decoded.values)) : [];
    if (incomplete.length > 0) throw new SettingsError('load', incomplete);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    const issue = err.issues[0];
    const key = issue?.key ?? '';
    const blame = writerOf(result.written, key) ?? migrations[migrations.length - 1]?.name ?? '(none)';
    throw new MigrationError(blame, key, issue ? issue.message : err.message.replace(/^migrated settings: /, ''));
  }
  return unchecked;
}
