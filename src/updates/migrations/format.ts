// A settings migration as a version ships it: a declarative JSON document of key renames, sets and removals,
// each direction spelled out. Declarative rather than code on purpose: a migration runs as root on a
// locked-down host before the API is up, and a list of edits can be checked (keys, bounds), dry-run against a
// copy and read by a reviewer, where a module would have to be sandboxed and could still loop or eat memory.
//
//   { "berth-migration": 1, "description": "admin is now called shell",
//     "up":   [ { "rename": "host-containers.admin", "to": "host-containers.shell" } ],
//     "down": [ { "rename": "host-containers.shell", "to": "host-containers.admin" } ] }
//
// Keys are dotted paths into the settings tree; a segment holding a dot is quoted: `container-registry.mirrors."docker.io"`.

import { z } from 'zod';

export const MIGRATION_FORMAT = 1;
/** A migration file's size limit: it is metadata, not data. */
export const MIGRATION_MAX_BYTES = 64 * 1024;
const OPS_MAX = 256;
const SEGMENTS_MAX = 16;

/** `a.b."c.d"` → ['a', 'b', 'c.d']; throws naming the problem. */
export function parseKeyPath(key: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= key.length) {
    let seg: string;
    if (key[i] === '"') {
      const end = key.indexOf('"', i + 1);
      if (end < 0) throw new Error(`key ${JSON.stringify(key)}: unterminated quote`);
      seg = key.slice(i + 1, end);
      i = end + 1;
      if (i < key.length && key[i] !== '.') throw new Error(`key ${JSON.stringify(key)}: expected . after a quoted segment`);
    } else {
      const end = key.indexOf('.', i);
      seg = key.slice(i, end < 0 ? key.length : end);
      i = end < 0 ? key.length : end;
      if (!/^[A-Za-z0-9_-]+$/.test(seg)) throw new Error(`key ${JSON.stringify(key)}: segment ${JSON.stringify(seg)} is not letters, digits, _ and - (quote a segment holding a dot)`);
    }
    if (seg === '' || seg.length > 255 || /[\0/]/.test(seg) || seg === '..') throw new Error(`key ${JSON.stringify(key)}: empty or invalid segment`);
    out.push(seg);
    i++;
  }
  if (out.length > SEGMENTS_MAX) throw new Error(`key ${JSON.stringify(key)}: more than ${SEGMENTS_MAX} segments`);
  return out;
}

/** The dotted form of a path, quoting segments that need it (how errors name keys). */
export function keyOf(path: readonly string[]): string {
  return path.map((s) => (/^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s))).join('.');
}

const key = z.string().min(1).max(1024).superRefine((k, ctx) => {
  try {
    parseKeyPath(k);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/** A value a migration may set: what a settings document holds (checked by the settings schema afterwards). */
const value: z.ZodType<unknown> = z.lazy(() => z.union([z.string().max(65536), z.number(), z.boolean(), z.array(value).max(256), z.record(z.string(), value)]));

const op = z.union([
  z.strictObject({ rename: key, to: key }),
  z.strictObject({ set: key, value, 'if-unset': z.boolean().optional() }),
  z.strictObject({ remove: key }),
], { error: 'expected { "rename": KEY, "to": KEY }, { "set": KEY, "value": V[, "if-unset": true] } or { "remove": KEY }' });

const document = z.strictObject({
  'berth-migration': z.literal(MIGRATION_FORMAT, { error: `expected "berth-migration": ${MIGRATION_FORMAT}` }),
  description: z.string().max(1024).optional(),
  up: z.array(op).max(OPS_MAX),
  down: z.array(op).max(OPS_MAX),
});

export type MigrationOp = z.output<typeof op>;

export interface Migration {
  /** How errors name it: its target name in the repository (or file name). */
  readonly name: string;
  readonly description?: string;
  readonly up: readonly MigrationOp[];
  readonly down: readonly MigrationOp[];
}

/** A migration's failure: which migration, which key (when one is to blame), what. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(readonly migration: string, readonly key: string, readonly detail: string) {
    super(`migration ${migration}: ${key ? `${key}: ` : ''}${detail}`);
  }
}

/** Parses a migration file's text; the error names the file and the first bad field (`up[1].to: …`). */
export function parseMigration(name: string, text: string): Migration {
  if (Buffer.byteLength(text) > MIGRATION_MAX_BYTES) throw new MigrationError(name, '', `larger than ${MIGRATION_MAX_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MigrationError(name, '', `not JSON: ${(err as Error).message}`);
  }
  const parsed = document.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '';
    throw new MigrationError(name, '', `${at || 'document'}: ${issue?.message ?? 'invalid'}`);
  }
  const d = parsed.data;
  return { name, ...(d.description !== undefined ? { description: d.description } : {}), up: d.up, down: d.down };
}
