// Secrets stay secret. Which settings are secret is declared once, in its family (`sensitive: true`); this
// file turns that flag into redacted copies for every place settings leave berthd: the API's Get and Pending
// answers (berthctl checks again by the keys' shapes, ./secret-keys.ts, without loading the registry). The
// key stays visible with the value "<redacted>", so an operator sees that a password is set without seeing
// it. The store itself keeps the real value: pulls need it.

import { resolveKey } from './keys.js';
import { redactWith } from './secret-keys.js';

export { REDACTED } from './secret-keys.js';

/** Whether a dotted key (a leading `settings.` is accepted) is declared sensitive in the registry. */
export function isSecretKey(key: string): boolean {
  const resolved = resolveKey(key);
  return resolved.ok && resolved.value.definition.sensitive === true;
}

/**
 * A copy of `value` with the value of every secret key replaced by REDACTED (see redactWith in
 * ./secret-keys.ts for the shapes of `value` it takes).
 */
export function redactSettings<T>(value: T): T {
  return redactWith(value, isSecretKey);
}
