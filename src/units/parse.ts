// parseUnit: TOML text → UnitSpec or errors. Syntax errors name the line and column.
import { TomlError } from 'smol-toml';
import { DocumentDepthError, parseTomlBounded } from '../util/depth.js';
import { ROOT_PATH, withFile, type UnitResult } from './errors.js';
import type { UnitSpec } from './types.js';
import { validateUnit } from './validate.js';

function tomlMessage(e: TomlError): string {
  // smol-toml's message embeds a code excerpt after a blank line; the first part is the reason.
  const first = e.message.split('\n\n')[0] ?? e.message;
  return `invalid TOML: ${first.replace(/^Invalid TOML document:\s*/, '')}`;
}

export function parseUnit(text: string, file?: string): UnitResult<UnitSpec> {
  let doc: unknown;
  try {
    // Depth-checked: validation and everything after it walk the document recursively.
    doc = parseTomlBounded(text);
  } catch (e) {
    const error = e instanceof DocumentDepthError
      ? { path: ROOT_PATH, message: e.message }
      : e instanceof TomlError
      ? { path: `line ${e.line}, column ${e.column}`, message: tomlMessage(e) }
      : { path: 'line ?', message: `invalid TOML: ${e instanceof Error ? e.message : String(e)}` };
    return { ok: false, errors: withFile([error], file) };
  }
  return validateUnit(doc, file);
}
