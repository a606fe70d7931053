// Parsers for the human-friendly quantities in unit files. They return a
// result instead of throwing so the schema can turn failures into field errors.

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:\d+(?:ms|s|m|h))+$/;
const DURATION_PART = /(\d+)(ms|s|m|h)/g;
// Timers in Node cannot exceed 2^31-1 ms; a longer duration would silently fire at once.
export const MAX_DURATION_MS = 2 ** 31 - 1;

export const DURATION_EXAMPLES = '"500ms", "20s", "1m30s" or "1h"';

/** "500ms", "5s", "1m30s", "2h" → milliseconds. */
export function parseDuration(text: string): Parsed<number> {
  if (!DURATION.test(text)) {
    return { ok: false, message: `expected a duration like ${DURATION_EXAMPLES}, got ${JSON.stringify(text)}` };
  }
  let total = 0;
  for (const m of text.matchAll(DURATION_PART)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? 0);
  }
  if (!Number.isSafeInteger(total) || total > MAX_DURATION_MS) {
    return { ok: false, message: `must be at most ${MAX_DURATION_MS}ms (about 24 days)` };
  }
  return { ok: true, value: total };
}

// Sizes are binary throughout, whichever notation is used: Kubernetes' Ki/Mi/Gi/Ti, and Docker's (and
// systemd's) single letters b/k/m/g/t in either case, so `--memory 64m` (as people type it for docker run)
// means 64Mi. Decimal powers of 1000 are deliberately not offered: "64M" meaning 64 000 000 beside "64m"
// meaning 64 MiB would be a trap for exactly the people who type both.
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4,
  ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4,
};
// Ki/Mi/Gi/Ti exactly as Kubernetes spells them; the single letters in either case.
const SIZE = /^(\d+)(Ki|Mi|Gi|Ti|[bkmgtBKMGT])?$/;

export const SIZE_EXAMPLES = '"64Mi", "64m", "1Gi", "1g", "512k" or a byte count';

/** "64Mi", "64m", "1G", "4096" → bytes. */
export function parseSize(text: string): Parsed<number> {
  const m = SIZE.exec(text);
  if (m === null) {
    return { ok: false, message: `expected a size like ${SIZE_EXAMPLES}, got ${JSON.stringify(text)}` };
  }
  const bytes = Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
  if (!Number.isSafeInteger(bytes)) return { ok: false, message: 'is too large' };
  return { ok: true, value: bytes };
}

/** "1777", "0755" → numeric mode. Only strings, so TOML's decimal integers can't be mistaken for octal. */
export function parseOctalMode(text: string): Parsed<number> {
  if (!/^[0-7]{3,4}$/.test(text)) {
    return { ok: false, message: `expected an octal mode string like "755" or "1777", got ${JSON.stringify(text)}` };
  }
  return { ok: true, value: Number.parseInt(text, 8) };
}

const UINT32_MAX_ID = 4294967294; // (uid_t)-1 is reserved as "no change"

/** "1000" or "1000:1000" → ids. */
export function parseUserSpec(text: string): Parsed<{ uid: number; gid?: number }> {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (m === null) return { ok: false, message: `expected a numeric "uid" or "uid:gid", got ${JSON.stringify(text)}` };
  const uid = Number(m[1]);
  const gid = m[2] === undefined ? undefined : Number(m[2]);
  if (uid > UINT32_MAX_ID || (gid !== undefined && gid > UINT32_MAX_ID)) {
    return { ok: false, message: `ids must be at most ${UINT32_MAX_ID}` };
  }
  return { ok: true, value: gid === undefined ? { uid } : { uid, gid } };
}

/** Formats bytes back into the largest exact binary unit, for messages. */
export function formatBytes(bytes: number): string {
  for (const [suffix, factor] of [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return `${bytes}`;
}
