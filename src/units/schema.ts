// The zod schema for a unit file as written in TOML (kebab-case keys).
// It checks shapes and single-field formats and converts quantities to
// numbers; rules spanning several fields live in rules.ts, defaults in resolve.ts.
import { z } from 'zod';
import { normalizeCapability } from './capabilities.js';
import { showInput } from './errors.js';
import { imageRefProblem } from './image-ref.js';
import { isValidEnvName, unitNameProblem } from './names.js';
import { absolutePathProblem } from './paths.js';
import { parseDuration, parseOctalMode, parseSize, parseUserSpec, type Parsed } from './quantities.js';
import { normalizeSignal } from './signals.js';
import {
  ARG_MAX_BYTES, ARGS_MAX_ITEMS, ARGS_TOTAL_MAX_BYTES, byteLength, ENV_MAX_VARS, ENV_NAME_MAX_BYTES, ENV_TOTAL_MAX_BYTES,
  ENV_VALUE_MAX_BYTES, LIST_MAX_ITEMS, MOUNTS_MAX, PATH_MAX_BYTES,
} from './limits.js';
import { BIND_OPTIONS, TMPFS_OPTIONS, USER_DATA_MAX_BYTES } from './types.js';

/**
 * A string checked (and possibly converted) by one of the pure parsers. `expected` names the format for a
 * value that is not a string at all (`timeout = 20`): "expected a duration like "20s", got 20".
 */
function parsedString<T>(parse: (s: string) => Parsed<T> | string | undefined, expected?: string) {
  const notString = expected === undefined
    ? undefined
    : { error: (issue: { input?: unknown }) => (issue.input === undefined ? undefined : `expected ${expected}, got ${showInput(issue.input)}`) };
  return z.string(notString).transform((s, ctx): T => {
    const r = parse(s);
    if (typeof r === 'object') {
      if (r.ok) return r.value;
      ctx.issues.push({ code: 'custom', message: r.message, input: s });
      return z.NEVER;
    }
    if (typeof r === 'string') {
      ctx.issues.push({ code: 'custom', message: r, input: s });
      return z.NEVER;
    }
    return s as T;
  });
}

const text = z.string().refine((s) => !s.includes('\0'), { error: 'must not contain NUL characters' });
const unitName = parsedString<string>(unitNameProblem);

/** Checked before the path rules, so a megabyte "path" costs one length check. */
function pathLengthProblem(s: string): string | undefined {
  const n = byteLength(s);
  return n > PATH_MAX_BYTES ? `path is ${n} bytes, at most ${PATH_MAX_BYTES}` : undefined;
}
const containerPath = parsedString<string>((s) => pathLengthProblem(s) ?? absolutePathProblem(s));
// Host bind sources may contain ".." (they are real host paths); the spec builder resolves them.
const hostPath = parsedString<string>((s) =>
  pathLengthProblem(s) ?? (!s.startsWith('/') ? 'must be an absolute path' : s.includes('\0') ? 'must not contain NUL characters' : undefined),
);

/**
 * An array whose length is checked before its items: 30,000 entries are refused with one error naming the
 * field, instead of being parsed and reported one by one.
 */
function boundedArray<T extends z.ZodType>(item: T, max: number, noun: string) {
  return z.unknown().transform((v, ctx) => {
    if (Array.isArray(v) && v.length > max) {
      ctx.issues.push({ code: 'custom', message: `at most ${max} ${noun}, got ${v.length}`, input: v });
      return z.NEVER;
    }
    return v;
  }).pipe(z.array(item));
}

/** A short list (devices, capabilities, options, dependencies). */
function shortList<T extends z.ZodType>(item: T) {
  return boundedArray(item, LIST_MAX_ITEMS, 'items');
}

/**
 * command / args / health.command: a count, a per-item and a total size limit. Hand-rolled (not z.array)
 * so an oversized list is refused on its length before 30,000 items are each checked and reported.
 */
function argList(min: number) {
  return z.unknown().transform((v, ctx): string[] => {
    if (!Array.isArray(v)) {
      ctx.issues.push({ code: 'invalid_type', expected: 'array', input: v });
      return z.NEVER;
    }
    if (v.length > ARGS_MAX_ITEMS) {
      ctx.issues.push({ code: 'custom', message: `at most ${ARGS_MAX_ITEMS} items, got ${v.length}`, input: v });
      return z.NEVER;
    }
    if (v.length < min) {
      ctx.issues.push({ code: 'custom', message: `must have at least ${min} item${min === 1 ? '' : 's'}`, input: v });
      return z.NEVER;
    }
    let total = 0;
    let ok = true;
    v.forEach((item: unknown, i) => {
      if (typeof item !== 'string') {
        ctx.issues.push({ code: 'invalid_type', expected: 'string', path: [i], input: item });
        ok = false;
        return;
      }
      const n = byteLength(item);
      total += n;
      if (n > ARG_MAX_BYTES) {
        ctx.issues.push({ code: 'custom', path: [i], message: `is ${n} bytes, at most ${ARG_MAX_BYTES}`, input: item });
        ok = false;
      } else if (item.includes('\0')) {
        ctx.issues.push({ code: 'custom', path: [i], message: 'must not contain NUL characters', input: item });
        ok = false;
      }
    });
    if (ok && total > ARGS_TOTAL_MAX_BYTES) {
      ctx.issues.push({ code: 'custom', message: `items total ${total} bytes, at most ${ARGS_TOTAL_MAX_BYTES}`, input: v });
      ok = false;
    }
    return ok ? (v as string[]) : z.NEVER;
  });
}
const DURATION = 'a duration like "20s"';
const duration = parsedString(parseDuration, DURATION);
const positiveDuration = parsedString((s) => {
  const r = parseDuration(s);
  return r.ok && r.value === 0 ? { ok: false as const, message: 'must be greater than 0' } : r;
}, DURATION);

const capability = (allowAll: boolean) =>
  parsedString((s) => normalizeCapability(s, allowAll));

const userData = parsedString<string>((s) => {
  // Strict base64: canonical alphabet and padding, so the same bytes always hash the same.
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) {
    return 'must be base64 (standard alphabet, padded)';
  }
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) return 'must be canonical base64';
  if (bytes.length > USER_DATA_MAX_BYTES) {
    return `decodes to ${bytes.length} bytes; at most ${USER_DATA_MAX_BYTES} (16 KiB) allowed`;
  }
  return undefined;
});

// Memory accepts a size string or a TOML integer of bytes; one schema so errors stay single and clear.
const memory = z.unknown().transform((v, ctx): number => {
  let bytes: number | undefined;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) bytes = v;
    else ctx.issues.push({ code: 'custom', message: 'must be an integer number of bytes', input: v });
  } else if (typeof v === 'string') {
    const r = parseSize(v);
    if (r.ok) bytes = r.value;
    else ctx.issues.push({ code: 'custom', message: r.message, input: v });
  } else {
    ctx.issues.push({ code: 'custom', message: `expected a size like "256Mi" or an integer number of bytes, got ${showInput(v)}`, input: v });
  }
  if (bytes === undefined) return z.NEVER;
  if (bytes <= 0) {
    ctx.issues.push({ code: 'custom', message: `must be greater than 0 (got ${bytes})`, input: v });
    return z.NEVER;
  }
  return bytes;
});

// Hand-rolled instead of z.record: a record silently drops an own "__proto__"
// key, and a unit must never lose a variable without an error.
const envTable = z.unknown().transform((v, ctx): Record<string, string> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) {
    ctx.issues.push({ code: 'custom', message: `must be a table of NAME = "value"`, input: v });
    return z.NEVER;
  }
  const all = Object.entries(v);
  // The count first: a 30,000-variable request is refused without looking at each variable.
  if (all.length > ENV_MAX_VARS) {
    ctx.issues.push({ code: 'custom', message: `at most ${ENV_MAX_VARS} variables, got ${all.length}`, input: v });
    return z.NEVER;
  }
  const entries: Array<[string, string]> = [];
  let total = 0;
  for (const [key, value] of all) {
    if (key === '__proto__') {
      ctx.issues.push({ code: 'custom', path: [key], message: 'is reserved (it cannot be represented safely)', input: key });
    } else if (byteLength(key) > ENV_NAME_MAX_BYTES) {
      ctx.issues.push({ code: 'custom', path: [key.slice(0, 64)], message: `name is ${byteLength(key)} bytes, at most ${ENV_NAME_MAX_BYTES}`, input: key });
    } else if (!isValidEnvName(key)) {
      ctx.issues.push({ code: 'custom', path: [key], message: 'is not a valid environment variable name (letters, digits, "_"; not starting with a digit)', input: key });
    } else if (typeof value !== 'string') {
      ctx.issues.push({ code: 'custom', path: [key], message: 'must be a string (quote numbers: PORT = "8080")', input: value });
    } else if (byteLength(value) > ENV_VALUE_MAX_BYTES) {
      ctx.issues.push({ code: 'custom', path: [key], message: `value is ${byteLength(value)} bytes, at most ${ENV_VALUE_MAX_BYTES}`, input: key });
    } else if (value.includes('\0')) {
      ctx.issues.push({ code: 'custom', path: [key], message: 'must not contain NUL characters', input: value });
    } else {
      // NAME=value as the process sees it.
      total += byteLength(key) + 1 + byteLength(value);
      entries.push([key, value]);
    }
  }
  if (total > ENV_TOTAL_MAX_BYTES) {
    ctx.issues.push({ code: 'custom', message: `NAME=value strings total ${total} bytes, at most ${ENV_TOTAL_MAX_BYTES}`, input: v });
    return z.NEVER;
  }
  return Object.fromEntries(entries);
});

const bindMount = z.strictObject({
  type: z.literal('bind'),
  source: hostPath,
  destination: containerPath,
  options: shortList(z.enum(BIND_OPTIONS)).optional(),
});

const tmpfsMount = z.strictObject({
  type: z.literal('tmpfs'),
  destination: containerPath,
  size: parsedString((s) => {
    const r = parseSize(s);
    return r.ok && r.value === 0 ? { ok: false as const, message: 'must be greater than 0' } : r;
  }, 'a size like "64Mi"').optional(),
  mode: parsedString(parseOctalMode, 'an octal mode string like "755"').optional(),
  options: shortList(z.enum(TMPFS_OPTIONS)).optional(),
});

const device = z.strictObject({
  path: parsedString<string>((s) => pathLengthProblem(s) ?? absolutePathProblem(s) ?? (s.startsWith('/dev/') ? undefined : 'must be a path under /dev/')),
  permissions: z.string().regex(/^(?:r?w?m?)$/, { error: 'must be a non-empty combination of "r", "w", "m" in that order (e.g. "rw", "rwm")' })
    .refine((s) => s.length > 0, { error: 'must not be empty' }),
});

export const unitFileSchema = z.strictObject({
  name: unitName,
  class: z.enum(['host', 'bootstrap', 'workload']),
  description: text.max(1000).optional(),
  image: parsedString<string>(imageRefProblem),
  command: argList(1).optional(),
  args: argList(0).optional(),
  env: envTable.optional(),
  'working-dir': containerPath.optional(),
  user: parsedString(parseUserSpec, 'a "uid" or "uid:gid" string').optional(),
  superpowered: z.boolean().optional(),
  mounts: boundedArray(z.discriminatedUnion('type', [bindMount, tmpfsMount]), MOUNTS_MAX, 'mounts').optional(),
  'user-data': userData.optional(),
  'persistent-storage': z.boolean().optional(),
  capabilities: z.strictObject({
    add: shortList(capability(false)).optional(),
    drop: shortList(capability(true)).optional(),
  }).optional(),
  devices: shortList(device).optional(),
  namespaces: z.strictObject({
    'host-network': z.boolean().optional(),
    'host-pid': z.boolean().optional(),
  }).optional(),
  resources: z.strictObject({
    memory: memory.optional(),
    // The kernel's minimum CFS quota is 1ms per 100ms period, hence 0.01 rather than "> 0".
    cpus: z.number().min(0.01, { error: 'must be at least 0.01 (1ms of CPU per 100ms period)' }).max(1024).optional(),
    pids: z.number().int().positive().optional(),
  }).optional(),
  restart: z.strictObject({
    policy: z.enum(['always', 'on-failure', 'never']).optional(),
  }).optional(),
  'depends-on': shortList(unitName).optional(),
  health: z.strictObject({
    command: argList(1).refine((c) => (c[0] ?? '') !== '', { error: 'first element (the program) must not be empty' }),
    interval: positiveDuration.optional(),
    timeout: positiveDuration.optional(),
    'start-period': duration.optional(),
    retries: z.number().int().min(1).optional(),
  }).optional(),
  stop: z.strictObject({
    signal: parsedString(normalizeSignal).optional(),
    timeout: positiveDuration.optional(),
  }).optional(),
  // How an image change of a running host unit is applied (a guarded rollout, src/supervisor/rollout.ts).
  rollout: z.strictObject({
    watch: positiveDuration.optional(),
    guard: z.boolean().optional(),
  }).optional(),
  bootstrap: z.strictObject({
    mode: z.enum(['off', 'once', 'always']),
    essential: z.boolean().optional(),
    order: z.number().int().optional(),
  }).optional(),
});

export type UnitFile = z.output<typeof unitFileSchema>;

/** Every key the schema knows, used to suggest the right spelling for an unknown key. */
export const KNOWN_KEYS: readonly string[] = [
  ...Object.keys(unitFileSchema.shape), 'type', 'source', 'destination', 'options', 'size', 'mode',
  'add', 'drop', 'path', 'permissions', 'host-network', 'host-pid', 'memory', 'cpus', 'pids', 'policy',
  'interval', 'timeout', 'start-period', 'retries', 'signal', 'essential', 'order', 'watch', 'guard',
];
