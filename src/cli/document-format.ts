// Telling a TOML settings document from a JSON one, shared by `apply` and `validate`.

/** By extension, else by content (a JSON document starts with `{`, which TOML cannot). */
export function documentFormat(file: string, text: string): 'toml' | 'json' {
  if (/\.json$/i.test(file)) return 'json';
  if (/\.toml$/i.test(file)) return 'toml';
  return text.trimStart().startsWith('{') ? 'json' : 'toml';
}
