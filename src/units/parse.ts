// parseUnit: TOML text → UnitSpec or errors. Every error that concerns a value written in the file carries
// its line and column (syntax errors from smol-toml, value errors from locating the key in the text).
import { TomlError } from 'smol-toml';
import { DocumentDepthError, parseTomlBounded } from '../util/depth.js';
import { locateToml } from '../util/toml-locate.js';
import { formatPath, ROOT_PATH, SYNTAX_PATH, withFile, type UnitError, type UnitResult } from './errors.js';
import type { UnitSpec } from './types.js';
import { validateUnit } from './validate.js';

function tomlMessage(e: TomlError): string {
  // smol-toml's message embeds a code excerpt after a blank line; the first part is the reason.
  const first = e.message.split('\n\n')[0] ?? e.message;
  return `invalid TOML: ${first.replace(/^Invalid TOML document:\s*/, '')}`;
}

/** What a unit file is, for a file that has none of it (empty, or a stray document). */
export const UNIT_FILE_NEEDS =
  'a unit file needs at least name, class and image, e.g. name = "web", class = "workload", image = "registry.example.com/team/web:1"';

/** Line and column of each error's value, where the text has it; an error about a missing key has none. */
export function locateUnitErrors(errors: UnitError[], text: string): UnitError[] {
  const located = new Map<string, { line: number; column: number }>();
  for (const l of locateToml(text)) {
    const key = formatPath(l.path);
    if (!located.has(key)) located.set(key, { line: l.line, column: l.column });
  }
  return errors.map((e) => {
    const at = located.get(e.path);
    return at === undefined ? e : { ...e, ...at };
  });
}

export function parseUnit(text: string, file?: string): UnitResult<UnitSpec> {
  let doc: unknown;
  try {
    // Depth-checked: validation and everything after it walk the document recursively.
    doc = parseTomlBounded(text);
  } catch (e) {
    const error: UnitError = e instanceof DocumentDepthError
      ? { path: ROOT_PATH, message: e.message }
      : e instanceof TomlError
      ? { path: SYNTAX_PATH, message: tomlMessage(e), line: e.line, column: e.column }
      : { path: SYNTAX_PATH, message: `invalid TOML: ${e instanceof Error ? e.message : String(e)}` };
    return { ok: false, errors: withFile([error], file) };
  }
  if (typeof doc === 'object' && doc !== null && Object.keys(doc).length === 0) {
    return { ok: false, errors: withFile([{ path: ROOT_PATH, message: `the file is empty: ${UNIT_FILE_NEEDS}` }], file) };
  }
  const result = validateUnit(doc, file);
  return result.ok ? result : { ok: false, errors: locateUnitErrors(result.errors, text) };
}
