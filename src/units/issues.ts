// Turns zod issues into UnitErrors with messages written for operators
// ("must be a string, got integer") instead of zod's developer wording.
import type { z } from 'zod';
import { formatPath, type UnitError } from './errors.js';
import { KNOWN_KEYS } from './schema.js';

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  switch (typeof value) {
    case 'number': return Number.isInteger(value) ? 'an integer' : 'a float';
    case 'string': return 'a string';
    case 'boolean': return 'a boolean';
    case 'object': return 'a table';
    default: return typeof value;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'a boolean (true or false)',
  object: 'a table', array: 'an array', record: 'a table',
};

function oneOf(values: ReadonlyArray<unknown>): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function suggestion(key: string): string {
  const kebab = key.replace(/_/g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
  return kebab !== key && KNOWN_KEYS.includes(kebab) ? ` (did you mean "${kebab}"?)` : '';
}

/**
 * zod error map: operator wording for generic issues. Passed per parse (never
 * installed globally, other modules use zod too); schema-level messages win.
 */
export function unitErrorMap(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(issue.input)}`;
    case 'invalid_value':
      if (issue.input === undefined) return `is required (one of ${oneOf(issue.values)})`;
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `must be one of ${oneOf(issue.values)} (got ${typeof issue.input === 'string' ? JSON.stringify(issue.input) : describe(issue.input)})`;
    case 'invalid_union': {
      const options = (issue as { options?: unknown }).options;
      const discriminator = (issue as { discriminator?: unknown }).discriminator;
      const input: unknown = issue.input;
      if (Array.isArray(options)) {
        const missing = typeof discriminator === 'string' && typeof input === 'object' && input !== null && !Object.hasOwn(input, discriminator);
        return input === undefined || missing
          ? `is required (one of ${oneOf(options)})`
          : `must be one of ${oneOf(options)}`;
      }
      return undefined;
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return `must have at least ${min} item${min === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return min === 1 ? 'must not be empty' : `must be at least ${min} characters`;
      return issue.inclusive ? `must be at least ${min}` : `must be greater than ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') return `must have at most ${max} items`;
      if (issue.origin === 'string') return `must be at most ${max} characters`;
      return issue.inclusive ? `must be at most ${max}` : `must be less than ${max}`;
    }
    default:
      return undefined;
  }
}

/** One UnitError per problem; an unknown-keys issue becomes one error per key, at the key's path. */
export function issuesToErrors(issues: ReadonlyArray<Issue>): UnitError[] {
  const out: UnitError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: `unknown key${suggestion(key)}` });
      }
      continue;
    }
    out.push({ path: formatPath(issue.path), message: issue.message || 'is invalid' });
  }
  return out;
}
