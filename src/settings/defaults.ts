// Loads the shipped defaults (rootfs/usr/share/berth/settings.toml, read-only on a host). They are
// validated exactly like operator input, and must be complete on their own (a default host container needs a
// source), so a broken image fails loudly at start instead of at an operator's first commit.

import { readFile } from 'node:fs/promises';
import { parseDocument } from './document.js';
import { formatIssue, SettingsError, type SettingIssue } from './errors.js';
import { completenessIssues } from './state.js';
import { checkChanges } from './validate.js';
import type { SettingValue } from './values.js';

function loadError(path: string, issues: SettingIssue[]): SettingsError {
  return new SettingsError('load', issues, `defaults file ${path}: ${issues.map(formatIssue).join('\n')}`);
}

export async function loadDefaults(path: string): Promise<Map<string, SettingValue>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SettingsError('load', [], `defaults file ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  let settings;
  try {
    settings = parseDocument(text, 'toml');
  } catch (err) {
    if (err instanceof SettingsError) throw loadError(path, [...err.issues]);
    throw err;
  }
  const checked = checkChanges(settings, []);
  if (!checked.ok) throw loadError(path, checked.issues);
  const values = new Map<string, SettingValue>();
  // TOML has no null, so every change is a set.
  for (const change of checked.value) if (change.op === 'set') values.set(change.key, change.value);
  const incomplete = completenessIssues(values);
  if (incomplete.length > 0) throw loadError(path, incomplete);
  return values;
}
