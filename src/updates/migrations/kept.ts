// What the state partition keeps for migrations, under `<stateDir>/updates/migrations/`:
//   <version>/index.json   the version's migrations in order ({ "version", "migrations": [name…] }),
//   <version>/<name>       each migration file, as verified by TUF when the version was applied;
//   settings-version.json  which OS version the settings store is shaped for, and a migration under way.
// Kept, not downloaded again: after a rollback the old version must undo a newer version's migrations
// without a network (and the repository may have dropped that version).

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { compareVersions, versionProblem } from '../manifest.js';
import { parseMigration, type Migration } from './format.js';

export const migrationsDir = (stateDir: string): string => join(stateDir, 'updates', 'migrations');
const recordFile = (stateDir: string): string => join(migrationsDir(stateDir), 'settings-version.json');

const indexSchema = z.object({ version: z.string(), migrations: z.array(z.string()) });

/** Reads and parses files (already verified) into migrations named by their file names. */
export async function readMigrationFiles(files: readonly string[]): Promise<Migration[]> {
  return Promise.all(files.map(async (f) => parseMigration(basename(f), await readFile(f, 'utf8'))));
}

/** Keeps `files` (in order) as `version`'s migrations, replacing what was kept for it: a new dir, then one rename. */
export async function keepMigrations(stateDir: string, version: string, files: readonly string[]): Promise<void> {
  const dir = join(migrationsDir(stateDir), version);
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  for (const f of files) await writeFile(join(tmp, basename(f)), await readFile(f));
  await writeFile(join(tmp, 'index.json'), `${JSON.stringify({ version, migrations: files.map((f) => basename(f)) }, null, 2)}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/** Every kept version with its migrations, oldest first; a version dir that does not parse is an error naming it. */
export async function keptMigrations(stateDir: string): Promise<Array<{ version: string; migrations: Migration[] }>> {
  const names = await readdir(migrationsDir(stateDir)).catch(() => [] as string[]);
  const out: Array<{ version: string; migrations: Migration[] }> = [];
  for (const version of names.filter((n) => versionProblem(n) === undefined)) {
    const dir = join(migrationsDir(stateDir), version);
    const index = indexSchema.parse(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')));
    out.push({ version, migrations: await readMigrationFiles(index.migrations.map((m) => join(dir, m))) });
  }
  return out.sort((a, b) => compareVersions(a.version, b.version));
}

/**
 * The migrations that stand between version `lo` and version `hi` (lo < hi): those kept for every version above
 * `lo` up to and including `hi`, oldest first. What an update from `lo` to `hi` runs `up`, and what going back
 * from `hi` to `lo` runs `down`.
 */
export async function keptBetween(stateDir: string, lo: string, hi: string): Promise<Migration[]> {
  return (await keptMigrations(stateDir))
    .filter((k) => compareVersions(k.version, lo) > 0 && compareVersions(k.version, hi) <= 0)
    .flatMap((k) => k.migrations);
}

/** Drops what is kept for versions strictly between `lo` and `hi`. */
export async function dropKeptBetween(stateDir: string, lo: string, hi: string): Promise<void> {
  const names = await readdir(migrationsDir(stateDir)).catch(() => [] as string[]);
  for (const v of names.filter((n) => versionProblem(n) === undefined && compareVersions(n, lo) > 0 && compareVersions(n, hi) < 0)) {
    await rm(join(migrationsDir(stateDir), v), { recursive: true, force: true });
  }
}

const recordSchema = z.object({
  /** The OS version the settings are shaped for. */
  version: z.string(),
  /** A migration to this version started (the pre-migration settings are in the backup) and has not finished. */
  migratingTo: z.string().optional(),
});
export type SettingsVersionRecord = z.output<typeof recordSchema>;

export async function loadSettingsVersion(stateDir: string): Promise<SettingsVersionRecord | undefined> {
  const text = await readFile(recordFile(stateDir), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const parsed = recordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${recordFile(stateDir)}: not a settings-version record: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

export async function saveSettingsVersion(stateDir: string, r: SettingsVersionRecord): Promise<void> {
  await mkdir(migrationsDir(stateDir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(recordFile(stateDir), `${JSON.stringify(r)}\n`, { mode: 0o600 });
}
