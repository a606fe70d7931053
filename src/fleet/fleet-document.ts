// The fleet settings document (`/berth/<group>/settings`, the `berthctl apply` shape) → the one change map
// this host commits. Pure: the caller commits the result as one settings transaction (all or nothing).
//
// Precedence: the fleet's value wins, except for keys listed (or under a prefix listed) in
// fleet.local-overrides that were set on this host through the API — those keep the local value. Keys the
// previous document set and this one no longer does are removed (back to the default), unless locally set
// and overridable. Which keys were set locally is remembered in ./local-state.ts.

import { checkChanges, formatIssue, parseDocument, SettingsError, type SettingValue } from '../settings/index.js';

/** Per host by definition (where etcd is, which group, who we are): a fleet document may not set them. */
const HOST_ONLY = ['fleet.etcd.', 'fleet.group', 'fleet.host-id'];

export function isHostOnly(key: string): boolean {
  return HOST_ONLY.some((k) => (k.endsWith('.') ? key.startsWith(k) : key === k));
}

/** Whether `key` is one of `overrides` or under one of them (on a segment boundary). */
export function isOverridable(key: string, overrides: readonly string[]): boolean {
  return overrides.some((o) => key === o || key.startsWith(`${o}.`));
}

export interface FleetPlanInput {
  /** The document's text; undefined when the key is absent (deleted): the fleet then sets nothing. */
  readonly document: string | undefined;
  /** fleet.local-overrides as it will be after this commit (the document may set it). */
  readonly overrides: readonly string[];
  readonly localKeys: ReadonlySet<string>;
  /** Keys the previously applied document set. */
  readonly previousFleetKeys: readonly string[];
}

export type FleetPlan =
  | { readonly ok: true; readonly changes: Record<string, SettingValue | null>; readonly fleetKeys: string[] }
  | { readonly ok: false; readonly error: string };

function refusal(err: unknown): FleetPlan {
  if (err instanceof SettingsError) return { ok: false, error: err.issues.length > 0 ? err.issues.map(formatIssue).join('; ') : err.message };
  return { ok: false, error: err instanceof Error ? err.message : String(err) };
}

/** Values the document sets, by canonical key; or why it is refused (every bad key named). */
export function documentValues(document: string): { ok: true; values: Map<string, SettingValue> } | { ok: false; error: string } {
  let staged;
  try {
    const format = document.trimStart().startsWith('{') ? 'json' : 'toml';
    const checked = checkChanges(parseDocument(document, format), []);
    if (!checked.ok) return { ok: false, error: checked.issues.map(formatIssue).join('; ') };
    staged = checked.value;
  } catch (err) {
    const r = refusal(err);
    return { ok: false, error: r.ok ? '' : r.error };
  }
  const values = new Map<string, SettingValue>();
  const issues: string[] = [];
  for (const change of staged) {
    if (change.op !== 'set') continue;
    if (isHostOnly(change.key)) issues.push(`${change.key}: set on each host, not by the fleet settings document`);
    else values.set(change.key, change.value);
  }
  return issues.length > 0 ? { ok: false, error: issues.join('; ') } : { ok: true, values };
}

export function planFleetChanges(input: FleetPlanInput): FleetPlan {
  let values = new Map<string, SettingValue>();
  if (input.document !== undefined) {
    const parsed = documentValues(input.document);
    if (!parsed.ok) return parsed;
    values = parsed.values;
  }
  const docOverrides = values.get('fleet.local-overrides');
  const overrides = Array.isArray(docOverrides) ? (docOverrides as readonly string[]) : input.overrides;
  const keepLocal = (key: string): boolean => input.localKeys.has(key) && isOverridable(key, overrides);
  const changes: Record<string, SettingValue | null> = {};
  for (const [key, value] of values) if (!keepLocal(key)) changes[key] = value;
  for (const key of input.previousFleetKeys) {
    if (!values.has(key) && !keepLocal(key)) changes[key] = null;
  }
  return { ok: true, changes, fleetKeys: [...values.keys()].sort() };
}
