// Error shape shared by unit parsing, validation, loading and spec building.
// Every error names a field path so an operator can find the offending key
// without reading code: `admin.toml: mounts[2].destination: must be an absolute path`.

export interface UnitError {
  file?: string;
  path: string;
  message: string;
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

export function formatUnitError(e: UnitError): string {
  return e.file === undefined ? `${e.path}: ${e.message}` : `${e.file}: ${e.path}: ${e.message}`;
}

export function withFile(errors: UnitError[], file: string | undefined): UnitError[] {
  return file === undefined ? errors : errors.map((e) => ({ ...e, file }));
}
