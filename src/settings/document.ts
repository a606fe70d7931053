// Parsing of Bottlerocket-style user-data documents (`[settings.host-containers.admin]` in TOML, or
// `{"settings": {...}}` in JSON) into a change map. Only the shape is checked here; the values go through
// the same validation as `set`.

import { TomlError } from 'smol-toml';
import { DocumentDepthError, parseJsonBounded, parseTomlBounded } from '../util/depth.js';
import { SettingsError } from './errors.js';
import { isPlainObject } from './tree.js';
import type { ChangeMap } from './validate.js';

export type DocumentFormat = 'toml' | 'json';

/** Generous for a settings document, small enough that a stray multi-megabyte upload is refused cheaply. */
export const DOCUMENT_SIZE_LIMIT = 1024 * 1024;

/**
 * The first line of a parser's error, without V8's excerpt of the input (`Unexpected token 'h', ..."assword":
 * hunter2}" is not valid JSON`): the excerpt may be a secret, and this message goes back over the API.
 */
export function parseErrorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // On the whole message: the excerpt may span lines. Anything after a V8 `, "` or `, ..."` is the excerpt.
  const cut = text.replace(/, (?:\.\.\.)?"[\s\S]*$/, ' (input excerpt left out)');
  return cut.split('\n')[0] ?? '';
}

function parseText(text: string, format: DocumentFormat): unknown {
  try {
    // 'throw' so a `__proto__` key can never reach object handling further down.
    // Depth-bounded: flattening and validation walk the document recursively.
    return format === 'toml' ? parseTomlBounded(text, { unsafeKeyBehaviour: 'throw' }) : parseJsonBounded(text);
  } catch (err) {
    if (err instanceof DocumentDepthError) throw new SettingsError('document', [{ key: '', message: err.message }]);
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : '';
    const reason = parseErrorMessage(err).replace(/^Invalid TOML document:\s*/, '');
    throw new SettingsError('document', [{ key: '', message: `invalid ${format.toUpperCase()}${where}: ${reason}` }]);
  }
}

/** What a document must look like, for the messages about one that does not. */
export const SETTINGS_DOCUMENT_SHAPE =
  'a settings document has only a [settings] table, e.g. [settings.host-containers.admin] with enabled = true';

/** Returns the document's `settings` table. The only top-level key allowed is `settings`. */
export function parseDocument(text: string, format: DocumentFormat): ChangeMap {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > DOCUMENT_SIZE_LIMIT) {
    throw new SettingsError('document', [
      { key: '', message: `document too large: ${size} bytes, at most ${DOCUMENT_SIZE_LIMIT} allowed` },
    ]);
  }
  const doc = parseText(text, format);
  if (!isPlainObject(doc)) {
    throw new SettingsError('document', [{ key: '', message: 'expected a table with a "settings" table in it' }]);
  }
  const unexpected = Object.keys(doc).filter((key) => key !== 'settings');
  if (unexpected.length > 0) {
    throw new SettingsError(
      'document',
      unexpected.map((key) => ({ key, message: `unexpected top-level key: ${SETTINGS_DOCUMENT_SHAPE}` })),
    );
  }
  const settings = doc['settings'];
  if (settings === undefined) {
    throw new SettingsError('empty', [{ key: 'settings', message: `missing: ${SETTINGS_DOCUMENT_SHAPE}` }]);
  }
  if (!isPlainObject(settings)) {
    throw new SettingsError('document', [{ key: 'settings', message: 'expected a table' }]);
  }
  return settings;
}
