// Value types for settings: each constrained value (an image reference, user-data, a duration…) is its own
// zod schema, made by a factory below. A family (src/settings/families/) declares a field by naming one of
// them, so the rule, the CLI text parsing (by kind) and the `--help` hint come with the type. The schemas
// here check the *stored* form, the one `set` takes and settings.json holds ("30s"); a family may pipe it
// into a typed form for readers (milliseconds) with `.transform`.

import { posix } from 'node:path';
import { z } from 'zod';
import { DEPTH_MESSAGE, parseJsonBounded } from '../util/depth.js';
import { registryHostProblem } from './names.js';
import { parseSize } from '../units/quantities.js';

export type SettingValue = boolean | string | readonly string[];
export type ValueKind = 'boolean' | 'string' | 'enum' | 'string-list';

export type TextParse =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly message: string };

/** A value type as validation, `set k=TEXT` and `--help` see it; derived from the schema's factory. */
export interface ValueType {
  readonly kind: ValueKind;
  /** Short form for help text: `true|false`, `auto|enforce|off`, `image reference`, … */
  readonly hint: string;
  readonly choices?: readonly string[];
  readonly schema: z.ZodType<SettingValue>;
  /** Turns CLI text into a candidate value; the schema still checks the result. */
  readonly fromText: (text: string) => TextParse;
}

// Keyed by schema instance. Not a zod registry: its metadata types would not carry the schema's own type,
// which validation needs to hand back a SettingValue without a cast.
const VALUE_TYPES = new WeakMap<object, ValueType>();

/** The value type a factory below made `schema` with; undefined for any other schema. */
export function valueTypeOf(schema: z.core.$ZodType): ValueType | undefined {
  return VALUE_TYPES.get(schema);
}

function valueType<S extends z.ZodType<SettingValue>>(schema: S, kind: ValueKind, hint: string, fromText: ValueType['fromText'], choices?: readonly string[]): S {
  VALUE_TYPES.set(schema, { kind, hint, schema, fromText, ...(choices ? { choices } : {}) });
  return schema;
}

type Problem = (value: string) => string | undefined;

const asIs = (text: string): TextParse => ({ ok: true, value: text });

/** A string checked by `problem`, whose message becomes the issue's message as it is. */
export function checkedString(problem?: Problem): z.ZodType<string> {
  const base = z.string({ error: 'expected a string' });
  if (!problem) return base;
  return base.superRefine((value, ctx) => {
    const found = problem(value);
    if (found !== undefined) ctx.addIssue({ code: 'custom', message: found });
  });
}

export function booleanValue(): z.ZodBoolean {
  return valueType(z.boolean({ error: 'expected true or false' }), 'boolean', 'true|false', (text) =>
    text === 'true'
      ? { ok: true, value: true }
      : text === 'false'
        ? { ok: true, value: false }
        : { ok: false, message: 'expected true or false' },
  );
}

export function enumValue<const T extends readonly [string, ...string[]]>(choices: T) {
  const schema = z.enum(choices, { error: `expected one of ${choices.join(', ')}` });
  return valueType(schema, 'enum', choices.join('|'), asIs, choices);
}

export function stringValue(hint: string, problem?: Problem): z.ZodType<string> {
  return valueType(checkedString(problem), 'string', hint, asIs);
}

/** Lists reject duplicates: a repeated path or capability is always a mistake and makes diffs noisy. */
export function listValue(hint: string, itemProblem: Problem): z.ZodType<string[]> {
  const schema = z
    .array(checkedString(itemProblem), { error: 'expected a list of strings' })
    .superRefine((items, ctx) => {
      const seen = new Set<string>();
      items.forEach((item, index) => {
        if (seen.has(item)) ctx.addIssue({ code: 'custom', path: [index], message: 'listed twice' });
        seen.add(item);
      });
    });
  return valueType(schema, 'string-list', `list of ${hint}`, listFromText);
}

/** `["a","b"]` (JSON) or `a,b` (comma-separated); empty text is the empty list. */
function listFromText(text: string): TextParse {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      return { ok: true, value: parseJsonBounded(trimmed) };
    } catch (e) {
      return { ok: false, message: e instanceof SyntaxError ? 'expected a JSON array or a comma-separated list' : DEPTH_MESSAGE };
    }
  }
  return { ok: true, value: trimmed === '' ? [] : trimmed.split(',').map((item) => item.trim()) };
}

// ---- the constrained values settings use ---------------------------------------------------------------

export const imageReference = (): z.ZodType<string> => stringValue('image reference', imageReferenceProblem);
export const userData = (): z.ZodType<string> => stringValue('base64, at most 16 KiB decoded', userDataProblem);
/** A user name, password or token: any non-empty text without NUL. */
export const credential = (): z.ZodType<string> => stringValue('string', nonEmptyProblem);
export const base64Auth = (): z.ZodType<string> => stringValue('base64 of user:password', base64Problem);
export const absolutePath = (): z.ZodType<string> => stringValue('absolute path', absolutePathProblem);
export const absolutePaths = (): z.ZodType<string[]> => listValue('absolute paths', absolutePathProblem);
export const endpointUrls = (): z.ZodType<string[]> => listValue('http(s) endpoint URLs', endpointUrlProblem);
export const capabilities = (): z.ZodType<string[]> => listValue('capability names', capabilityProblem);

/** Stored as text ("30m"); readers get milliseconds. */
export const duration = () => stringValue('duration (500ms, 30s, 30m, 2h)', durationProblem).transform(durationMs);
/** Stored as text ("8Gi"); readers get bytes. */
export const size = () => stringValue('size like 8Gi, 500Mi, 1G', sizeProblem).transform(sizeBytes);

// The stored text passed its rule before these run, so a miss is a programming error, not bad input.
function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`settings: ${JSON.stringify(text)} is not a duration`);
  return ms;
}

function sizeBytes(text: string): number {
  const parsed = parseSize(text);
  if (!parsed.ok) throw new Error(`settings: ${JSON.stringify(text)} is not a size`);
  return parsed.value;
}

// ---- rules ---------------------------------------------------------------------------------------------

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const IMAGE_REF_MAX = 512;

/** `[registry[:port]/]repo[:tag][@sha256:<64 hex>]`, following the distribution reference grammar. */
export function imageReferenceProblem(ref: string): string | undefined {
  const shape = 'expected [registry[:port]/]repo[:tag][@sha256:<64 hex>]';
  if (ref.length === 0) return 'image reference must not be empty';
  if (/\s/.test(ref)) return 'image reference must not contain spaces';
  if (ref.length > IMAGE_REF_MAX) return `image reference longer than ${IMAGE_REF_MAX} characters`;
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return 'image digest must be sha256:<64 lowercase hex digits>';
    rest = rest.slice(0, at);
  }
  const colon = rest.indexOf(':', rest.lastIndexOf('/') + 1);
  if (colon >= 0) {
    if (!TAG.test(rest.slice(colon + 1))) return `invalid image tag (${shape})`;
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  // As in docker: the first component is a registry only if it looks like a host (has . or :, or is localhost).
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (registryHostProblem(first) !== undefined) return `invalid registry "${first}" (${shape})`;
    parts.shift();
  }
  for (const part of parts) {
    if (!PATH_COMPONENT.test(part)) return `invalid repository "${parts.join('/')}" (${shape})`;
  }
  return undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict RFC 4648 base64: standard alphabet, mandatory padding, no whitespace, canonical trailing bits. */
export function base64Problem(text: string): string | undefined {
  // The round trip catches non-zero padding bits, which Buffer would silently accept and drop.
  if (!BASE64.test(text) || Buffer.from(text, 'base64').toString('base64') !== text) {
    return 'expected base64 (standard alphabet, padded)';
  }
  return undefined;
}

export const USER_DATA_MAX = 16 * 1024;

export function userDataProblem(text: string): string | undefined {
  const problem = base64Problem(text);
  if (problem !== undefined) return problem;
  const size = Buffer.from(text, 'base64').length;
  return size > USER_DATA_MAX ? `decodes to ${size} bytes, at most ${USER_DATA_MAX} allowed` : undefined;
}

/** Absolute and already normal (no `.`/`..`/`//`/trailing slash), so prefix checks on it are meaningful. */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be an absolute path';
  if (path.includes('\0')) return 'must not contain NUL';
  if (posix.normalize(path) !== path || (path.length > 1 && path.endsWith('/'))) {
    return 'must be a normalised path (no ".", "..", "//" or trailing "/")';
  }
  return undefined;
}

export function endpointUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an http(s) URL';
  }
  if (/\s/.test(text) || (url.protocol !== 'https:' && url.protocol !== 'http:')) return 'expected an http(s) URL';
  // Credentials in a URL end up in logs and process listings; they belong in container-registry.credentials.
  if (url.username !== '' || url.password !== '') return 'must not contain credentials; use container-registry.credentials';
  return undefined;
}

const DURATION = /^(\d{1,9})(ms|s|m|h)$/;
const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** Durations are bounded: 0 would disable a safety limit, and a week is already "never". */
export const DURATION_MIN_MS = 10;
export const DURATION_MAX_MS = 7 * 24 * 3_600_000;

/** Milliseconds of a duration such as `500ms`, `30s`, `30m` or `2h`; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
}

export function durationProblem(text: string): string | undefined {
  const ms = parseDuration(text);
  if (ms === undefined) return 'expected a duration such as 500ms, 30s, 30m or 2h';
  if (ms < DURATION_MIN_MS || ms > DURATION_MAX_MS) return `must be between ${DURATION_MIN_MS}ms and ${DURATION_MAX_MS / 3_600_000}h`;
  return undefined;
}

/** Linux capabilities known to the OCI runtime spec, as used in `process.capabilities`. */
export const CAPABILITIES: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
].map((name) => `CAP_${name}`);

const CAPABILITY_SET = new Set(CAPABILITIES);

export function capabilityProblem(name: string): string | undefined {
  return CAPABILITY_SET.has(name) ? undefined : 'expected a capability name such as CAP_NET_ADMIN';
}

export function nonEmptyProblem(text: string): string | undefined {
  if (text.length === 0) return 'must not be empty';
  return text.includes('\0') ? 'must not contain NUL' : undefined;
}

/** A size in the unit files' notation ("8Gi", "500Mi", "1G", a byte count); at least 1 MiB. */
export function sizeProblem(text: string): string | undefined {
  const parsed = parseSize(text);
  if (!parsed.ok) return parsed.message;
  if (parsed.value < 1024 * 1024) return `must be at least 1Mi (got ${JSON.stringify(text)})`;
  return undefined;
}
