// `berthctl set k=v …` arguments → a change map. Values stay text; the store parses them per key type
// (`true`/`false`, JSON or comma-separated lists), so the CLI needs no knowledge of the settings model.

import { keyLabel, SettingsError, type SettingIssue } from './errors.js';

export function parseAssignments(args: readonly string[]): Record<string, string> {
  const changes: Record<string, string> = {};
  const issues: SettingIssue[] = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) {
      issues.push({ key: keyLabel(eq === 0 ? '' : arg), message: `expected key=value, got ${JSON.stringify(arg)}` });
      continue;
    }
    const key = arg.slice(0, eq);
    if (Object.hasOwn(changes, key)) issues.push({ key: keyLabel(key), message: 'given more than once' });
    // defineProperty: a key like `__proto__` must become an (unknown-setting) entry, not a prototype.
    Object.defineProperty(changes, key, { value: arg.slice(eq + 1), enumerable: true, writable: true, configurable: true });
  }
  if (issues.length > 0) throw new SettingsError('invalid', issues);
  return changes;
}
