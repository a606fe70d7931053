// The flat list of settings, derived from the families' schemas (src/settings/families/, see model.ts):
// key lookup, `set k=v` parsing, document validation, redaction, `--help` and `settings keys` all read it.
// Adding a setting means adding a field to its family; nothing here changes.

import { FAMILIES } from './families/index.js';
import { settingsOf, type SettingDefinition } from './model.js';

export type { SettingDefinition, Wildcard } from './model.js';

export const SETTINGS: readonly SettingDefinition[] = FAMILIES.flatMap(settingsOf);

/** One line per key for `--help` / `berthctl settings keys`. */
export function settingsHelp(): string {
  const width = Math.max(...SETTINGS.map((d) => d.pattern.length));
  return SETTINGS.map((d) => {
    const extra = d.required ? ' (required)' : d.fallback !== undefined ? ` (default ${JSON.stringify(d.fallback)})` : '';
    return `${d.pattern.padEnd(width)}  ${d.type.hint}${extra}\n${' '.repeat(width + 2)}${d.description}`;
  }).join('\n');
}
