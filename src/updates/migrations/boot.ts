// Settings migrations at berthd's start, before the settings store opens. The state partition says which OS
// version the settings are shaped for; when berthd runs a newer one, the kept migrations of the versions in
// between run forward (`up`), and when it runs an older one (a rollback), those of the versions it left run
// backward (`down`). Either way on a copy: settings.json is first kept as `settings.<old version>.json`, the
// record notes the migration under way, the migrated copy replaces settings.json in one rename, then the
// record moves on. A crash anywhere repeats the migration from the kept copy; a failure leaves settings.json
// as it was and berthd refuses to start, naming the migration and key (a new version's boot then fails its
// check and the host falls back).

import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { settingsFilePath, SETTINGS_FILE_VERSION } from '../../settings/index.js';
import { loadDefaults } from '../../settings/defaults.js';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { compareVersions } from '../manifest.js';
import { bootCheckFailure, loadLastRollback, saveLastRollback } from '../rollback-record.js';
import { checkMigrated } from './check.js';
import { keptBetween, loadSettingsVersion, saveSettingsVersion } from './kept.js';
import { runMigrations, type Direction, type Tree } from './run.js';

export interface StartMigration {
  readonly action: 'none' | 'first-start' | 'up' | 'down' | 'restored';
  readonly from?: string;
  readonly to?: string;
  /** Names of the migrations that ran, in the order they ran. */
  readonly migrations: readonly string[];
  /** Where the settings as they were before are kept. */
  readonly backup?: string;
}

export const settingsBackupPath = (stateDir: string, version: string): string => join(dirname(settingsFilePath(stateDir)), `settings.${version}.json`);

interface SettingsEnvelope {
  readonly generation: number;
  readonly settings: Tree;
}

async function readEnvelope(file: string): Promise<SettingsEnvelope | undefined> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  const json = JSON.parse(text) as { generation?: unknown; settings?: unknown };
  const settings = typeof json.settings === 'object' && json.settings !== null ? (json.settings as Tree) : {};
  return { generation: typeof json.generation === 'number' ? json.generation : 0, settings };
}

/** `defaultsFile`: the running version's shipped defaults (the migrated settings must open with them). */
export async function migrateSettingsAtStart(o: { stateDir: string; runningVersion: string; defaultsFile?: string; now?: () => Date }): Promise<StartMigration> {
  const { stateDir, runningVersion: running } = o;
  const file = settingsFilePath(stateDir);
  const record = await loadSettingsVersion(stateDir);
  if (!record) {
    await saveSettingsVersion(stateDir, { version: running });
    return { action: 'first-start', to: running, migrations: [] };
  }
  const from = record.version;
  const backup = settingsBackupPath(stateDir, from);
  if (from === running) {
    if (!record.migratingTo) return { action: 'none', migrations: [] };
    // A migration away from this version started and the host is back on it: its settings are the kept copy.
    const kept = await readFile(backup).catch(() => undefined);
    if (kept) await writeFileAtomic(file, kept, { mode: 0o600 });
    await saveSettingsVersion(stateDir, { version: running });
    return { action: 'restored', from: record.migratingTo, to: running, migrations: [], backup };
  }
  const direction: Direction = compareVersions(running, from) > 0 ? 'up' : 'down';
  const [lo, hi] = direction === 'up' ? [from, running] : [running, from];
  const migrations = await keptBetween(stateDir, lo, hi);
  if (!record.migratingTo) {
    const current = await readFile(file).catch(() => undefined);
    // No settings yet: nothing to migrate, and a copy kept from an earlier update must not stand in for them.
    if (current) await writeFileAtomic(backup, current, { mode: 0o600 });
    else await rm(backup, { force: true });
    await saveSettingsVersion(stateDir, { version: from, migratingTo: running });
  }
  const source = await readEnvelope(backup);
  let ran: string[] = [];
  if (source && migrations.length > 0) {
    const result = runMigrations(source.settings, migrations, direction);
    checkMigrated(result, migrations, o.defaultsFile ? { defaults: await loadDefaults(o.defaultsFile) } : {});
    const next = { version: SETTINGS_FILE_VERSION, generation: source.generation + 1, settings: result.settings };
    await writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    ran = (direction === 'up' ? migrations : [...migrations].reverse()).map((m) => m.name);
  }
  await saveSettingsVersion(stateDir, { version: running });
  if (direction === 'down') {
    // A rollback on demand recorded why already; otherwise the host fell back by itself.
    const prev = await loadLastRollback(stateDir);
    const known = prev && prev.fromVersion === from && prev.toVersion === running ? prev : undefined;
    await saveLastRollback(stateDir, {
      fromVersion: from, toVersion: running, at: known?.at ?? (o.now?.() ?? new Date()).toISOString(),
      reason: known?.reason ?? await fallbackReason(stateDir, from, running),
      migrationsUndone: ran,
    });
  }
  return { action: direction, from, to: running, migrations: ran, ...(source ? { backup } : {}) };
}

/** Why the host runs `running` again after `from`: the failed boot check of `from` when it left a record. */
async function fallbackReason(stateDir: string, from: string, running: string): Promise<string> {
  const failure = await bootCheckFailure(stateDir, from);
  if (failure) return `${from} fell back to ${running}: ${failure}`;
  return `the host booted ${running} again after running ${from} (a failed boot of ${from} fell back, or the boot entry was changed)`;
}
