// Secrets stay secret. Which settings are secret is declared once, in its family (`sensitive: true`); this
// file turns that flag into redacted copies for every place settings leave berthd: the API's Get and Pending
// answers and berthctl's printing of them. The key stays visible with the value "<redacted>", so an operator
// sees that a password is set without seeing it. The store itself keeps the real value: pulls need it.

import { resolveKey } from './keys.js';
import { isPlainObject } from './tree.js';

export const REDACTED = '<redacted>';

/** Whether a dotted key (a leading `settings.` is accepted) is declared sensitive in the registry. */
export function isSecretKey(key: string): boolean {
  const resolved = resolveKey(key);
  return resolved.ok && resolved.value.definition.sensitive === true;
}

/**
 * A copy of `value` with the value of every secret key replaced by REDACTED. Works on any mix of nesting
 * and dotted keys — a nested tree (`get`), a flat `{ dottedKey: value }` map (`tx pending`), a document
 * (`{ settings: … }`) — because path segments are joined with dots and the registry resolves the result.
 * `null` (a staged removal) and absent values stay as they are: they reveal nothing.
 */
export function redactSettings<T>(value: T): T {
  return redactAt(value, '') as T;
}

function redactAt(value: unknown, key: string): unknown {
  if (key !== '' && value !== null && value !== undefined && isSecretKey(key)) return REDACTED;
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [segment, child] of Object.entries(value)) {
    // defineProperty: a `__proto__` segment (JSON.parse makes it an own key) must stay data, not a prototype.
    Object.defineProperty(out, segment, {
      value: redactAt(child, key === '' ? segment : `${key}.${segment}`),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
