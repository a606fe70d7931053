// validateUnit: unknown value → UnitSpec or field errors. Never throws.
import { ROOT_PATH, withFile, type UnitError, type UnitResult } from './errors.js';
import { issuesToErrors, unitErrorMap } from './issues.js';
import { resolveUnit } from './resolve.js';
import { checkRules } from './rules.js';
import { unitFileSchema } from './schema.js';
import type { UnitSpec } from './types.js';

export function validateUnit(obj: unknown, file?: string): UnitResult<UnitSpec> {
  let errors: UnitError[];
  try {
    const parsed = unitFileSchema.safeParse(obj, { error: unitErrorMap });
    if (!parsed.success) {
      errors = issuesToErrors(parsed.error.issues);
    } else {
      // Cross-field rules only run on a well-formed file: their messages assume sane field values.
      errors = checkRules(parsed.data);
      if (errors.length === 0) return { ok: true, unit: resolveUnit(parsed.data) };
    }
  } catch (e) {
    // Defensive: exotic inputs (throwing getters, proxies) must still produce an error, not a crash.
    errors = [{ path: ROOT_PATH, message: `cannot be validated: ${e instanceof Error ? e.message : String(e)}` }];
  }
  return { ok: false, errors: withFile(errors, file) };
}
