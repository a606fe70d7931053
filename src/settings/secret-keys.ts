// The setting keys declared sensitive (`sensitive: true` in src/settings/families/), as plain data, and the
// redaction walk: berthctl redacts what it prints with these without loading the settings registry, whose
// zod schemas would add ~100 ms to `berthctl get`. tests/unit/secrets.test.ts checks the list against the
// registry, so a secret key added there and missing here fails the tests.
import { isPlainObject } from './tree.js';

export const REDACTED = '<redacted>';

/** Patterns of the sensitive keys; `<…>` is a wildcard of one or more segments, as in the registry. */
export const SECRET_KEY_PATTERNS: readonly string[] = [
  'host-containers.<name>.user-data',
  'bootstrap-containers.<name>.user-data',
  'container-registry.credentials.<registry>.password',
  'container-registry.credentials.<registry>.auth',
  'container-registry.credentials.<registry>.identitytoken',
  'fleet.etcd.key',
];

const SHAPES = SECRET_KEY_PATTERNS.map((pattern) => {
  const segments = pattern.split('.');
  const at = segments.findIndex((s) => s.startsWith('<'));
  return at < 0 ? { prefix: segments, suffix: [], wildcard: false } : { prefix: segments.slice(0, at), suffix: segments.slice(at + 1), wildcard: true };
});

/**
 * Whether a dotted key (a leading `settings.` is accepted) has the shape of a sensitive key. The registry
 * also checks the wildcard's value (a valid container or registry name), so this says yes to at least every
 * key the registry calls secret: it may redact more, never less.
 */
export function looksSecret(key: string): boolean {
  const segments = (key.startsWith('settings.') ? key.slice('settings.'.length) : key).split('.');
  return SHAPES.some(({ prefix, suffix, wildcard }) => {
    if (!wildcard) return segments.length === prefix.length && prefix.every((s, i) => segments[i] === s);
    const middle = segments.length - prefix.length - suffix.length;
    return middle > 0 && prefix.every((s, i) => segments[i] === s) && suffix.every((s, i) => segments[prefix.length + middle + i] === s);
  });
}

/**
 * A copy of `value` with the value of every key that `isSecret` names replaced by REDACTED. Works on any mix
 * of nesting and dotted keys — a nested tree (`get`), a flat `{ dottedKey: value }` map (`tx pending`), a
 * document (`{ settings: … }`) — because path segments are joined with dots before asking. `null` (a staged
 * removal) and absent values stay as they are: they reveal nothing.
 */
export function redactWith<T>(value: T, isSecret: (key: string) => boolean): T {
  return redactAt(value, '', isSecret) as T;
}

/** redactWith by the key shapes above: berthctl's own check of what berthd sent. */
export function redactSecrets<T>(value: T): T {
  return redactWith(value, looksSecret);
}

function redactAt(value: unknown, key: string, isSecret: (key: string) => boolean): unknown {
  if (key !== '' && value !== null && value !== undefined && isSecret(key)) return REDACTED;
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [segment, child] of Object.entries(value)) {
    // defineProperty: a `__proto__` segment (JSON.parse makes it an own key) must stay data, not a prototype.
    Object.defineProperty(out, segment, {
      value: redactAt(child, key === '' ? segment : `${key}.${segment}`, isSecret),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
