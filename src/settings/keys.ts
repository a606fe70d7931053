// Resolves dotted keys against the registry. A key is `literal.literal.<wildcard>.literal`; because registry
// hosts contain dots (`container-registry.mirrors.docker.io`), the wildcard takes every segment between the
// fixed prefix and the fixed suffix. The resolved `path` keeps the wildcard as ONE segment, which is what
// nesting (`get`, documents) and prefix matching use — `credentials.docker` is not a prefix of
// `credentials.docker.io`.

import { showValue } from './errors.js';
import { SETTINGS, type SettingDefinition, type Wildcard } from './registry.js';

interface CompiledPattern {
  readonly definition: SettingDefinition;
  readonly prefix: readonly string[];
  readonly wildcard: Wildcard | undefined;
  readonly suffix: readonly string[];
}

function compile(definition: SettingDefinition): CompiledPattern {
  const segments = definition.pattern.split('.');
  const { wildcard } = definition;
  if (!wildcard) return { definition, prefix: segments, wildcard: undefined, suffix: [] };
  const at = segments.indexOf(wildcard.placeholder);
  return { definition, prefix: segments.slice(0, at), wildcard, suffix: segments.slice(at + 1) };
}

const PATTERNS: readonly CompiledPattern[] = SETTINGS.map(compile);

export interface ResolvedKey {
  /** Canonical dotted key (without a leading `settings.`). */
  readonly key: string;
  /** Key segments with the wildcard value as a single segment. */
  readonly path: readonly string[];
  readonly definition: SettingDefinition;
  /** The service this key belongs to, placeholder substituted (`host-containers.admin`). */
  readonly service: string;
  /** Wildcard value, e.g. the container name; undefined for fixed keys. */
  readonly instance: string | undefined;
}

export type Resolution<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** Bottlerocket users write `settings.host-containers…`; accept it and drop it. */
export function normalizeKey(raw: string): string {
  return raw.startsWith('settings.') ? raw.slice('settings.'.length) : raw;
}

function startsWith(segments: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= segments.length && prefix.every((s, i) => segments[i] === s);
}

function endsWith(segments: readonly string[], suffix: readonly string[]): boolean {
  const offset = segments.length - suffix.length;
  return offset >= 0 && suffix.every((s, i) => segments[offset + i] === s);
}

/** Checks the wildcard's value; the error says which kind of name was wrong. */
function checkInstance(pattern: CompiledPattern, value: string): string | undefined {
  const problem = pattern.wildcard?.problem(value);
  return problem === undefined ? undefined : `invalid ${pattern.wildcard?.label} ${showValue(value)}: ${problem}`;
}

function resolved(pattern: CompiledPattern, path: readonly string[], instance: string | undefined): ResolvedKey {
  const placeholder = pattern.wildcard?.placeholder;
  const service =
    placeholder !== undefined && instance !== undefined
      ? pattern.definition.service.replace(placeholder, instance)
      : pattern.definition.service;
  return { key: path.join('.'), path, definition: pattern.definition, service, instance };
}

/** Resolves a full setting key. */
export function resolveKey(raw: string): Resolution<ResolvedKey> {
  const segments = normalizeKey(raw).split('.');
  let badInstance: string | undefined;
  for (const pattern of PATTERNS) {
    const { prefix, suffix, wildcard } = pattern;
    if (!startsWith(segments, prefix) || !endsWith(segments, suffix)) continue;
    if (!wildcard) {
      if (segments.length === prefix.length) return { ok: true, value: resolved(pattern, segments, undefined) };
      continue;
    }
    const middle = segments.slice(prefix.length, segments.length - suffix.length);
    if (middle.length === 0) continue;
    const instance = middle.join('.');
    const problem = checkInstance(pattern, instance);
    if (problem === undefined) {
      return { ok: true, value: resolved(pattern, [...prefix, instance, ...suffix], instance) };
    }
    badInstance ??= problem;
  }
  return { ok: false, message: badInstance ?? 'unknown setting' };
}

export interface ResolvedPrefix {
  readonly key: string;
  readonly path: readonly string[];
  /** Set when the prefix is a complete key. */
  readonly leaf: ResolvedKey | undefined;
  /** True when the prefix names exactly one instance of a wildcard (`host-containers.admin`). */
  readonly instance: boolean;
}

/**
 * Resolves a key prefix on segment boundaries: a full key, a fixed prefix (`host-containers`,
 * `container-registry.credentials`) or one instance and part of its suffix (`host-containers.admin`,
 * `container-registry.credentials.docker.io`).
 */
export function resolvePrefix(raw: string): Resolution<ResolvedPrefix> {
  const full = resolveKey(raw);
  if (full.ok) {
    return { ok: true, value: { key: full.value.key, path: full.value.path, leaf: full.value, instance: false } };
  }
  const segments = normalizeKey(raw).split('.');
  let badInstance: string | undefined;
  for (const pattern of PATTERNS) {
    const { prefix, suffix, wildcard } = pattern;
    if (segments.length <= prefix.length) {
      if (startsWith(prefix, segments) && segments.every((s) => s !== '')) {
        return { ok: true, value: { key: segments.join('.'), path: segments, leaf: undefined, instance: false } };
      }
      continue;
    }
    if (!wildcard || !startsWith(segments, prefix)) continue;
    const rest = segments.slice(prefix.length);
    // Longest partial suffix first; a full suffix would have made it a full key above.
    for (let k = Math.min(suffix.length - 1, rest.length - 1); k >= 0; k--) {
      if (!endsWith(rest, suffix.slice(0, k))) continue;
      const instance = rest.slice(0, rest.length - k).join('.');
      const problem = checkInstance(pattern, instance);
      if (problem !== undefined) {
        badInstance ??= problem;
        continue;
      }
      const path = [...prefix, instance, ...suffix.slice(0, k)];
      return { ok: true, value: { key: path.join('.'), path, leaf: undefined, instance: k === 0 } };
    }
  }
  return { ok: false, message: badInstance ?? full.message };
}

/** True when `path` lies at or below `prefix` (segment-wise). */
export function isUnder(path: readonly string[], prefix: readonly string[]): boolean {
  return startsWith(path, prefix);
}
