// Errors are values with a path: every problem with a setting names its dotted key, so an operator applying
// a 200-line document sees exactly which lines to fix, and callers (API, CLI) can render them as they like.

export interface SettingIssue {
  /** Dotted key (or document key) the problem is about; empty only for whole-document syntax errors. */
  readonly key: string;
  readonly message: string;
}

/**
 * - `invalid`: one or more changes or the resulting state are invalid (see `issues`); nothing changed.
 * - `empty`: commit of a transaction with nothing staged, or a document/change map with no settings.
 * - `document`: a TOML/JSON document could not be parsed or has the wrong shape.
 * - `persist`: the new state could not be written; see the message for whether anything changed.
 * - `load`: the defaults file or the persisted settings are unreadable or invalid.
 */
export type SettingsErrorCode = 'invalid' | 'empty' | 'document' | 'persist' | 'load';

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(
    readonly code: SettingsErrorCode,
    readonly issues: readonly SettingIssue[],
    message?: string,
    options?: ErrorOptions,
  ) {
    super(message ?? issues.map(formatIssue).join('\n'), options);
  }
}

export function formatIssue(issue: SettingIssue): string {
  return issue.key === '' ? issue.message : `${issue.key}: ${issue.message}`;
}

/**
 * How a key the caller sent is named in an issue: as typed when it is printable ASCII, JSON-quoted otherwise,
 * so an empty key or one with a newline or NUL still yields a visible, single-line name.
 */
export function keyLabel(raw: string): string {
  return /^[\x21-\x7e]+$/.test(raw) ? raw : JSON.stringify(raw);
}

const SHOWN_VALUE_LIMIT = 80;

/**
 * Renders an offending value for an error message: JSON-quoted so `"true "` and `true` are distinguishable,
 * truncated so a 60 KiB blob does not flood a terminal, and hidden for secrets (passwords must not end up in
 * logs through error messages).
 */
export function showValue(value: unknown, sensitive = false): string {
  if (sensitive) return '(hidden)';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > SHOWN_VALUE_LIMIT ? `${text.slice(0, SHOWN_VALUE_LIMIT)}…` : text;
}
