// The committed operator settings on disk: `<stateDir>/settings/settings.json`.
//
//   { "version": 1, "generation": 42, "settings": { "host-containers": { "admin": { "enabled": true } } } }
//
// `settings` holds only what operators set, in the same nested shape `apply` accepts, so a default shipped in
// a later release shows through and the file can be read (or re-applied) by a human. `generation` counts
// commits. Written with writeFileAtomic (mode 0600: it may hold registry credentials).

import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../util/atomic-file.js';
import { SettingsError } from './errors.js';
import { pathOf, type SettingsMap } from './state.js';
import { nestEntries } from './tree.js';
import { checkChanges } from './validate.js';
import type { SettingValue } from './values.js';

export const SETTINGS_FILE_VERSION = 1;

export interface PersistedSettings {
  readonly generation: number;
  readonly values: SettingsMap;
}

/** Replaceable for fault injection (ENOSPC, crashes) in tests; must be atomic like writeFileAtomic. */
export type FileWriter = (path: string, data: string) => Promise<void>;

export const atomicWriter: FileWriter = (path, data) => writeFileAtomic(path, data, { mode: 0o600 });

export function settingsDir(stateDir: string): string {
  return join(stateDir, 'settings');
}

export function settingsFilePath(stateDir: string): string {
  return join(settingsDir(stateDir), 'settings.json');
}

export function encodeSettingsFile(state: PersistedSettings): string {
  // Sorted so that the file's content depends only on the settings, not on the order they were set in.
  const entries = [...state.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const settings = nestEntries(entries.map(([key, value]) => [pathOf(key), value] as const));
  return `${JSON.stringify({ version: SETTINGS_FILE_VERSION, generation: state.generation, settings }, null, 2)}\n`;
}

const envelope = z.object({
  version: z.number().int(),
  generation: z.number().int().nonnegative(),
  settings: z.record(z.string(), z.unknown()),
});

/** Validates the file like any operator input: a hand-edited or corrupted file is refused, not guessed at. */
export function decodeSettingsFile(json: unknown, path: string): PersistedSettings {
  const parsed = envelope.safeParse(json);
  if (!parsed.success) {
    throw new SettingsError('load', [], `${path}: not a berth settings file: ${parsed.error.issues[0]?.message ?? ''}`);
  }
  const { version, generation, settings } = parsed.data;
  if (version !== SETTINGS_FILE_VERSION) {
    throw new SettingsError('load', [], `${path}: settings file version ${version}, this berth reads ${SETTINGS_FILE_VERSION}`);
  }
  const checked = checkChanges(settings, []);
  if (!checked.ok) {
    throw new SettingsError('load', checked.issues, `${path}: invalid settings:\n${checked.issues.map((i) => `${i.key}: ${i.message}`).join('\n')}`);
  }
  const values = new Map<string, SettingValue>();
  for (const change of checked.value) {
    if (change.op !== 'set') throw new SettingsError('load', [{ key: change.key, message: 'null is not a value' }], `${path}: ${change.key}: null is not a value`);
    values.set(change.key, change.value);
  }
  return { generation, values };
}

/**
 * Loads the committed settings; a missing file is generation 0 with nothing set. Temp files a crashed writer
 * left behind are removed first — the committed file is always the one under the real name.
 */
export async function loadSettingsFile(path: string): Promise<PersistedSettings> {
  await removeStaleTempFiles(path);
  let json: unknown;
  try {
    json = await readJsonFile(path);
  } catch (err) {
    // Both node's fs errors and readJsonFile's parse errors already name the path.
    throw new SettingsError('load', [], err instanceof Error ? err.message : `${path}: ${String(err)}`, { cause: err });
  }
  return json === undefined ? { generation: 0, values: new Map() } : decodeSettingsFile(json, path);
}
