// Conversion between nested settings objects (the Bottlerocket user-data shape, `get` output, the persisted
// file) and flat dotted entries. Kept free of validation: flattening only walks plain objects; whatever is
// not a plain object (scalars, arrays, dates, null) is a leaf that validation then judges.

import type { SettingValue } from './values.js';

/** Nested view of settings: `{ "host-containers": { admin: { enabled: true } } }`. */
export interface SettingsTree {
  [segment: string]: SettingValue | SettingsTree;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  // smol-toml builds tables with a null prototype; JSON.parse uses Object.prototype.
  return proto === Object.prototype || proto === null;
}

/**
 * Flattens nested objects into `[dottedKey, leaf]` pairs, in document order. Keys already containing dots
 * (`{"host-containers.admin.enabled": true}` or TOML's quoted `"docker.io"`) are joined as they are, so
 * both spellings reach the same key. An empty object yields nothing.
 */
export function flattenTree(tree: Readonly<Record<string, unknown>>, base = ''): Array<[string, unknown]> {
  // Iterative with an explicit stack (depth-first, document order) and no spread of child results: a
  // document's depth and width come from the client, and neither may turn into a stack overflow.
  const out: Array<[string, unknown]> = [];
  const stack: Array<Iterator<[string, unknown]> & { base: string }> = [];
  const push = (node: Readonly<Record<string, unknown>>, prefix: string): void => {
    stack.push(Object.assign(Object.entries(node)[Symbol.iterator](), { base: prefix }));
  };
  push(tree, base);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const next = top.next();
    if (next.done === true) {
      stack.pop();
      continue;
    }
    const [segment, value] = next.value;
    const key = top.base === '' ? segment : `${top.base}.${segment}`;
    if (isPlainObject(value)) push(value, key);
    else out.push([key, value]);
  }
  return out;
}

/** Builds a nested object from resolved paths (wildcard values stay single segments). */
export function nestEntries(entries: Iterable<readonly [readonly string[], SettingValue]>): SettingsTree {
  const root: SettingsTree = {};
  for (const [path, value] of entries) {
    let node = root;
    path.slice(0, -1).forEach((segment) => {
      const next = node[segment];
      if (next === undefined || typeof next !== 'object' || Array.isArray(next)) {
        const created: SettingsTree = {};
        node[segment] = created;
        node = created;
      } else {
        node = next as SettingsTree;
      }
    });
    const last = path[path.length - 1];
    if (last !== undefined) node[last] = Array.isArray(value) ? [...value] : value;
  }
  return root;
}
