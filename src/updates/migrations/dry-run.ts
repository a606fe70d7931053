// Before an update is made the next boot: its migrations (downloaded and verified by TUF like any target) run
// forward on a copy of the current settings and the result is checked with the settings schema. Only when
// that passes are they kept on the state partition for the first boot of the new version (and for a
// rollback's `down`). A pinned downgrade dry-runs the `down` of what it leaves instead. A failure throws
// naming the migration and the key; nothing has been written then.

import { readFile } from 'node:fs/promises';
import { settingsFilePath } from '../../settings/index.js';
import { loadDefaults } from '../../settings/defaults.js';
import { UpdateError } from '../errors.js';
import { checkMigrated } from './check.js';
import { MigrationError } from './format.js';
import { compareVersions } from '../manifest.js';
import { dropKeptBetween, keepMigrations, keptBetween, readMigrationFiles } from './kept.js';
import { runMigrations, type Tree } from './run.js';

export interface DryRunResult {
  readonly migrations: readonly string[];
  /** Keys migrations write that this version's schema does not know: checked by the new version at its boot. */
  readonly unchecked: readonly string[];
}

async function currentSettings(stateDir: string): Promise<Tree> {
  const text = await readFile(settingsFilePath(stateDir), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return {};
  const json = JSON.parse(text) as { settings?: unknown };
  return typeof json.settings === 'object' && json.settings !== null ? (json.settings as Tree) : {};
}

/** `defaultsFile`: this version's shipped defaults, so the check is the one the settings store makes when it opens. */
export async function dryRunAndKeep(o: { stateDir: string; version: string; files: readonly string[]; defaultsFile?: string; runningVersion?: string }): Promise<DryRunResult> {
  try {
    if (o.runningVersion && compareVersions(o.version, o.runningVersion) < 0) return await dryRunDowngrade({ ...o, runningVersion: o.runningVersion });
    const migrations = await readMigrationFiles(o.files);
    const defaults = o.defaultsFile ? { defaults: await loadDefaults(o.defaultsFile) } : {};
    const result = runMigrations(await currentSettings(o.stateDir), migrations, 'up');
    const unchecked = checkMigrated(result, migrations, { allowUnknownWritten: true, ...defaults });
    // `down` too, on what `up` made: after a rollback this version runs it and must be able to load the result.
    checkMigrated(runMigrations(result.settings, migrations, 'down'), migrations, defaults);
    await keepMigrations(o.stateDir, o.version, o.files);
    // Versions skipped by this update: their migrations are part of this version's now (see select.ts).
    if (o.runningVersion) await dropKeptBetween(o.stateDir, o.runningVersion, o.version);
    return { migrations: migrations.map((m) => m.name), unchecked };
  } catch (err) {
    if (err instanceof MigrationError) {
      throw new UpdateError('migration', `settings migrations of ${o.version} failed their dry run, nothing was changed: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * A pinned downgrade (`updates.version-lock` naming an older version): the older version will run the kept
 * migrations of every version it leaves backward (`down`, newest first) at its start. Dry-run exactly that
 * before the reboot, so a `down` that cannot apply fails `apply` instead of the older version's start. Keys the
 * running version does not know any more may be written (the older version checks them at its start), as
 * an update's `up` may write keys only the newer one knows. Nothing is kept: the kept migrations are the ones run.
 */
async function dryRunDowngrade(o: { stateDir: string; version: string; runningVersion: string; defaultsFile?: string }): Promise<DryRunResult> {
  const migrations = await keptBetween(o.stateDir, o.version, o.runningVersion);
  if (migrations.length === 0) return { migrations: [], unchecked: [] };
  const defaults = o.defaultsFile ? { defaults: await loadDefaults(o.defaultsFile) } : {};
  const result = runMigrations(await currentSettings(o.stateDir), migrations, 'down');
  const unchecked = checkMigrated(result, migrations, { allowUnknownWritten: true, ...defaults });
  return { migrations: [...migrations].reverse().map((m) => m.name), unchecked };
}
