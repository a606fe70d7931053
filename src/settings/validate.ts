// Validation of requested changes, one by one, against the registry. Pure: no store state is consulted
// except "which keys do the defaults define" (for refusing to remove built-in entries). Every issue carries
// the dotted key it is about and, except for secrets, shows the offending value.

import { keyLabel, showValue, type SettingIssue } from './errors.js';
import { isUnder, resolveKey, resolvePrefix, type ResolvedKey } from './keys.js';
import { flattenTree, isPlainObject } from './tree.js';
import type { SettingValue } from './values.js';

/**
 * Requested changes, keyed by dotted key (a leading `settings.` is accepted). Values: a typed value
 * (boolean, string, string array), CLI text for non-string keys (`"true"`, `"a,b"`, `'["a"]'`), a nested
 * object (flattened, as in `set -j`), or `null` to remove the key or a whole prefix (JSON merge-patch style).
 */
export type ChangeMap = Readonly<Record<string, unknown>>;

export type StagedChange =
  | { readonly op: 'set'; readonly key: string; readonly value: SettingValue }
  | { readonly op: 'unset'; readonly key: string };

export const VALUE_SIZE_LIMIT = 64 * 1024;

/**
 * Whole-state limits (checked at commit, state.ts): what `get` returns and what is persisted stays far inside
 * one API message. One change map may not hold more entries than the whole state may.
 */
export const SETTINGS_MAX_KEYS = 4096;
export const SETTINGS_MAX_BYTES = 1024 * 1024;

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: SettingIssue[] };

function fail<T>(key: string, message: string): Checked<T> {
  return { ok: false, issues: [{ key, message }] };
}

/** Byte size as the value would be stored; things that are not JSON values count as too large to judge. */
function sizeOf(input: unknown): number {
  if (typeof input === 'string') return Buffer.byteLength(input, 'utf8');
  try {
    return Buffer.byteLength(JSON.stringify(input) ?? '', 'utf8');
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Validates one value for an already resolved key. */
export function checkValue(resolved: ResolvedKey, input: unknown): Checked<SettingValue> {
  const { key, definition } = resolved;
  const { type, sensitive = false } = definition;
  const size = sizeOf(input);
  if (size > VALUE_SIZE_LIMIT) {
    return fail(key, Number.isFinite(size) ? `too large: ${size} bytes, at most ${VALUE_SIZE_LIMIT} allowed` : 'not a JSON value');
  }
  let candidate = input;
  // Strings are CLI text for every non-string type; string-typed keys take them as they are.
  if (typeof input === 'string' && type.kind !== 'string' && type.kind !== 'enum') {
    const parsed = type.fromText(input);
    if (!parsed.ok) return fail(key, `${parsed.message}, got ${showValue(input, sensitive)}`);
    candidate = parsed.value;
  }
  const result = type.schema.safeParse(candidate);
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues.map((issue): SettingIssue => {
    const index = issue.path[0];
    if (typeof index === 'number' && Array.isArray(candidate)) {
      return { key, message: `item ${index}: ${issue.message}, got ${showValue(candidate[index], sensitive)}` };
    }
    return { key, message: `${issue.message}, got ${showValue(input, sensitive)}` };
  });
  return { ok: false, issues };
}

/** Keys the defaults define, as resolved paths; removing a prefix over any of them is refused. */
export type DefaultPaths = Iterable<readonly string[]>;

function checkUnset(rawKey: string, defaults: DefaultPaths): Checked<StagedChange> {
  const resolution = resolvePrefix(rawKey);
  if (!resolution.ok) return fail(keyLabel(rawKey), resolution.message);
  const { key, path, leaf, instance } = resolution.value;
  // Removing a single key just reverts it to its default, which is always allowed.
  if (leaf) return { ok: true, value: { op: 'unset', key } };
  for (const defaultPath of defaults) {
    if (!isUnder(defaultPath, path)) continue;
    const enabledKey = `${key}.enabled`;
    const hint =
      instance && resolveKey(enabledKey).ok
        ? `; set ${enabledKey}=false instead`
        : '; unset individual keys to restore their defaults';
    return fail(key, `cannot be removed: it is defined by the defaults${hint}`);
  }
  return { ok: true, value: { op: 'unset', key } };
}

function checkSet(rawKey: string, input: unknown): Checked<StagedChange> {
  const resolution = resolveKey(rawKey);
  if (!resolution.ok) return fail(keyLabel(rawKey), resolution.message);
  const checked = checkValue(resolution.value, input);
  return checked.ok ? { ok: true, value: { op: 'set', key: resolution.value.key, value: checked.value } } : checked;
}

/**
 * Validates a change map. All issues are collected (an operator fixes a document in one pass); callers
 * must stage nothing unless `ok`.
 */
export function checkChanges(changes: ChangeMap, defaults: DefaultPaths): Checked<StagedChange[]> {
  if (!isPlainObject(changes)) return fail('', 'expected an object of settings');
  const staged: StagedChange[] = [];
  const issues: SettingIssue[] = [];
  const seen = new Set<string>();
  const defaultList = [...defaults];
  const entries = flattenTree(changes);
  // One request changes at most as many keys as the whole state may hold; refused before any is checked.
  if (entries.length > SETTINGS_MAX_KEYS) return fail('settings', `at most ${SETTINGS_MAX_KEYS} settings in one change, got ${entries.length}`);
  for (const [rawKey, input] of entries) {
    const checked = input === null ? checkUnset(rawKey, defaultList) : checkSet(rawKey, input);
    if (!checked.ok) {
      issues.push(...checked.issues);
      continue;
    }
    // The same key twice (`selinux.mode` and `settings.selinux.mode`) is ambiguous, not "last one wins".
    if (seen.has(checked.value.key)) {
      issues.push({ key: checked.value.key, message: 'given more than once' });
      continue;
    }
    seen.add(checked.value.key);
    staged.push(checked.value);
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value: staged };
}
