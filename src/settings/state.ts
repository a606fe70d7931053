// Pure transitions of the settings state: applying staged changes to the operator layer, overlaying it on
// the defaults, whole-state rules (required keys) and the diff a commit reports. No I/O here, so the store
// can compute the complete next state, validate it and only then touch the disk.

import type { SettingIssue } from './errors.js';
import { isUnder, resolveKey, resolvePrefix } from './keys.js';
import { SETTINGS } from './registry.js';
import { SETTINGS_MAX_BYTES, SETTINGS_MAX_KEYS, type StagedChange } from './validate.js';
import type { SettingValue } from './values.js';

/** Flat settings keyed by canonical dotted key. */
export type SettingsMap = ReadonlyMap<string, SettingValue>;

export function pathOf(key: string): readonly string[] {
  const resolution = resolveKey(key);
  // Stored keys were validated on the way in; an unresolvable one means the registry lost a key.
  if (!resolution.ok) throw new Error(`settings: stored key ${key} no longer resolves: ${resolution.message}`);
  return resolution.value.path;
}

/**
 * Applies changes in order. Linear in keys + changes (a change map may hold thousands of removals): each
 * key's fate is the later of its last `set` and the last removal of any of its path prefixes.
 */
export function applyChanges(base: SettingsMap, changes: readonly StagedChange[]): Map<string, SettingValue> {
  const lastSet = new Map<string, { at: number; value: SettingValue }>();
  const lastUnset = new Map<string, number>(); // prefix path joined with NUL → index of its last removal
  changes.forEach((change, at) => {
    if (change.op === 'set') {
      lastSet.set(change.key, { at, value: change.value });
      return;
    }
    const prefix = resolvePrefix(change.key);
    if (!prefix.ok) throw new Error(`settings: staged prefix ${change.key} no longer resolves`);
    lastUnset.set(prefix.value.path.join('\0'), at);
  });
  const removedAt = (key: string): number => {
    if (lastUnset.size === 0) return -1;
    const path = pathOf(key);
    let latest = -1;
    for (let n = 1; n <= path.length; n++) latest = Math.max(latest, lastUnset.get(path.slice(0, n).join('\0')) ?? -1);
    return latest;
  };
  const next = new Map<string, SettingValue>();
  for (const [key, value] of base) if (!lastSet.has(key) && removedAt(key) < 0) next.set(key, value);
  for (const [key, { at, value }] of lastSet) if (at > removedAt(key)) next.set(key, value);
  return next;
}

/** Issues when the operator's settings (as persisted) exceed the limits above. */
export function sizeIssues(operator: SettingsMap): SettingIssue[] {
  if (operator.size > SETTINGS_MAX_KEYS) {
    return [{ key: 'settings', message: `at most ${SETTINGS_MAX_KEYS} keys may be set, this change would make it ${operator.size}` }];
  }
  let bytes = 0;
  for (const [key, value] of operator) bytes += key.length + Buffer.byteLength(JSON.stringify(value), 'utf8');
  return bytes > SETTINGS_MAX_BYTES
    ? [{ key: 'settings', message: `at most ${SETTINGS_MAX_BYTES} bytes of settings may be set, this change would make it ${bytes}` }]
    : [];
}

/** Operator values over defaults, sorted by key so every view of the state is deterministic. */
export function overlay(defaults: SettingsMap, operator: SettingsMap): Map<string, SettingValue> {
  const merged = new Map([...defaults, ...operator]);
  return new Map([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const PLACEHOLDER = /<[^>]+>/;

/** `host-containers.<name>.source` → `host-containers.<name>`: the entity a wildcard key belongs to. */
function familyOf(pattern: string): string | undefined {
  const match = PLACEHOLDER.exec(pattern);
  return match ? pattern.slice(0, match.index + match[0].length) : undefined;
}

const REQUIRED = SETTINGS.filter((d) => d.required === true);

/** Instances per family (`host-containers.<name>`, `bootstrap-containers.<name>`, registries…). */
function instancesByFamily(effective: SettingsMap): Map<string, Set<string>> {
  const instances = new Map<string, Set<string>>(); // family → instance names
  for (const key of effective.keys()) {
    const resolution = resolveKey(key);
    if (!resolution.ok || resolution.value.instance === undefined) continue;
    const family = familyOf(resolution.value.definition.pattern);
    if (family === undefined) continue;
    let names = instances.get(family);
    if (!names) instances.set(family, (names = new Set()));
    names.add(resolution.value.instance);
  }
  return instances;
}

/**
 * Containers one host may define through settings, per kind. Each becomes a unit whose status (with its
 * recent events) travels in every units list and event-stream snapshot; this keeps those under one API
 * message, with room to spare next to Bottlerocket's usual two or three.
 */
export const MAX_CONTAINERS_PER_KIND = 128;
const CONTAINER_FAMILIES = ['host-containers.<name>', 'bootstrap-containers.<name>'];

export function instanceIssues(effective: SettingsMap): SettingIssue[] {
  const instances = instancesByFamily(effective);
  const issues: SettingIssue[] = [];
  for (const family of CONTAINER_FAMILIES) {
    const count = instances.get(family)?.size ?? 0;
    const kind = family.split('.')[0]!;
    if (count > MAX_CONTAINERS_PER_KIND) issues.push({ key: kind, message: `at most ${MAX_CONTAINERS_PER_KIND} may be defined, this change would make it ${count}` });
  }
  return issues;
}

/**
 * Whole-state rules: for every instance that has any setting (`host-containers.foo.enabled`), every
 * required key of its family (`host-containers.foo.source`) must be present after the overlay.
 */
export function completenessIssues(effective: SettingsMap): SettingIssue[] {
  const instances = instancesByFamily(effective);
  const issues: SettingIssue[] = [];
  for (const definition of REQUIRED) {
    const family = familyOf(definition.pattern);
    const placeholder = PLACEHOLDER.exec(definition.pattern)?.[0];
    if (family === undefined || placeholder === undefined) continue;
    for (const name of instances.get(family) ?? []) {
      const key = definition.pattern.replace(placeholder, name);
      if (!effective.has(key)) issues.push({ key, message: 'required' });
    }
  }
  return issues;
}

function sameValue(a: SettingValue | undefined, b: SettingValue | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Keys whose effective value differs (added, removed or changed), sorted. */
export function changedKeys(before: SettingsMap, after: SettingsMap): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((key) => !sameValue(before.get(key), after.get(key))).sort();
}

