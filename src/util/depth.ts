// Nesting limits for documents a client sends (unit TOML, settings documents, JSON settings values).
// Everything downstream of a parser (zod, flattening, JSON.stringify, spec building) recurses once per level,
// so a document nested thousands deep ended in "Maximum call stack size exceeded" — an INTERNAL error, or a
// crash where nothing caught it. These checks are iterative (an explicit stack, never recursion), run before
// any recursive code sees the value, and refuse with one message that says what is wrong.
import { parse as parseToml, TomlError, type TomlTable } from 'smol-toml';

/** Real documents nest a handful of levels (settings keys: ≤ 6); 64 leaves a wide margin. */
export const MAX_DOCUMENT_DEPTH = 64;

export const DEPTH_MESSAGE = `document nests deeper than ${MAX_DOCUMENT_DEPTH} levels`;

/** Thrown by the parse helpers here; carries the same message everywhere. */
export class DocumentDepthError extends Error {
  override readonly name = 'DocumentDepthError';
  constructor() {
    super(DEPTH_MESSAGE);
  }
}

/**
 * Deepest bracket nesting of JSON text, scanning once and skipping string contents. Stops counting as soon
 * as the limit is passed, so a hostile 4 MiB of `[` costs one pass and no allocation.
 */
export function jsonTextTooDeep(text: string, limit = MAX_DOCUMENT_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Whether a parsed value (JSON or TOML: objects, arrays, scalars, dates) nests deeper than `limit`. A scalar
 * is depth 0; `{}` and `[]` are depth 1. Iterative, so the check itself cannot overflow the stack.
 */
export function valueTooDeep(value: unknown, limit = MAX_DOCUMENT_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, depth] = item;
    if (typeof v !== 'object' || v === null || v instanceof Date) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** JSON.parse with the depth limit checked on the text first. Throws DocumentDepthError or SyntaxError. */
export function parseJsonBounded(text: string): unknown {
  if (jsonTextTooDeep(text)) throw new DocumentDepthError();
  return JSON.parse(text) as unknown;
}

/**
 * smol-toml with the depth limit: its own `maxDepth` bounds arrays and inline tables (which it parses
 * recursively); table headers and dotted keys (`[a.b.c…]`) nest without recursion, so the parsed value is
 * checked too. Throws DocumentDepthError, or TomlError for syntax errors.
 */
export function parseTomlBounded(text: string, options: { unsafeKeyBehaviour?: 'throw' } = {}): TomlTable {
  let doc: TomlTable;
  try {
    doc = parseToml(text, { ...options, maxDepth: MAX_DOCUMENT_DEPTH });
  } catch (e) {
    if (e instanceof TomlError && e.message.includes('excessively nested')) throw new DocumentDepthError();
    throw e;
  }
  if (valueTooDeep(doc)) throw new DocumentDepthError();
  return doc;
}
