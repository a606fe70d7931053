// Error shape shared by unit parsing, validation, loading and spec building.
// Every error names a field path so an operator can find the offending key
// without reading code: `admin.toml: mounts[2].destination: must be an absolute path`.

export interface UnitError {
  file?: string;
  path: string;
  message: string;
  /** Where the value (or the `[table]` header) is written, 1-based, when the file's text located it. */
  line?: number;
  column?: number;
}

export type UnitResult<T> = { ok: true; unit: T } | { ok: false; errors: UnitError[] };

// Used when an error concerns the whole document rather than one key, so that
// `path` is never empty (callers and tests rely on a non-empty path).
export const ROOT_PATH = '(unit)';

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** Renders a key path the way TOML users write it: `mounts[2].destination`, `env."A B"`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') {
      out += `[${key}]`;
    } else {
      const text = typeof key === 'symbol' ? String(key) : key;
      const part = PLAIN_KEY.test(text) ? text : JSON.stringify(text);
      out += out === '' ? part : `.${part}`;
    }
  }
  return out === '' ? ROOT_PATH : out;
}

/** The path of a TOML syntax error: its line and column say where, there is no key to name. */
export const SYNTAX_PATH = '(syntax)';

/** `file:line:column: path: message`, the form compilers use (editors and CI logs jump to it). */
export function formatUnitError(e: UnitError): string {
  const at = e.line === undefined ? '' : `${e.line}:${e.column ?? 1}`;
  const where = e.file === undefined ? (at === '' ? '' : `line ${at}: `) : at === '' ? `${e.file}: ` : `${e.file}:${at}: `;
  return `${where}${e.path === SYNTAX_PATH ? '' : `${e.path}: `}${e.message}`;
}

/** A value as an error message quotes it: `20`, `"20"`, `true`, or its kind for arrays and tables. */
export function showInput(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  return typeof value === 'object' ? 'a table' : typeof value;
}

export function withFile(errors: UnitError[], file: string | undefined): UnitError[] {
  return file === undefined ? errors : errors.map((e) => ({ ...e, file }));
}
