// One canonical digest of a unit. The supervisor compares it with the hash
// recorded on the running container to decide whether a restart is needed,
// so key order and undefined fields must not change it.
import { createHash } from 'node:crypto';
import type { UnitSpec } from './types.js';

/** JSON with object keys sorted at every level and undefined members omitted. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * `rollout` says how a change is applied, not what runs: changing it restarts nothing (and a unit without
 * it hashes as before it existed).
 */
export function specHash(unit: UnitSpec): string {
  const { rollout: _howApplied, ...runs } = unit;
  return createHash('sha256').update(canonicalJson(runs)).digest('hex');
}
