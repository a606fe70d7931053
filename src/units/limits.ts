// Size limits of a unit, defined once. They apply wherever a unit comes from — unit files, workload requests
// (which become workload-class units) and settings-made host containers — because all of them go through
// the unit schema (schema.ts) and rules (rules.ts). They keep any one request from stalling berthd (every
// step after validation is linear in these sizes) and keep every workload well inside one API message.
// Chosen to be generous next to what Kubernetes and Bottlerocket users write.

const KiB = 1024;
const MiB = 1024 * KiB;

/** Environment: at most this many variables… */
export const ENV_MAX_VARS = 4096;
/** …of at most this many bytes each (value; the kernel refuses one `NAME=value` string over 128 KiB)… */
export const ENV_VALUE_MAX_BYTES = 32 * KiB;
/** …with names of at most this many bytes… */
export const ENV_NAME_MAX_BYTES = 1 * KiB;
/** …and `NAME=value` strings of at most this many bytes in total. */
export const ENV_TOTAL_MAX_BYTES = 1 * MiB;

/** `command`, `args` and `health.command`, each: at most this many items… */
export const ARGS_MAX_ITEMS = 4096;
/** …of at most this many bytes each (MAX_ARG_STRLEN: execve refuses a longer argument)… */
export const ARG_MAX_BYTES = 128 * KiB;
/** …and this many bytes in total. */
export const ARGS_TOTAL_MAX_BYTES = 1 * MiB;

/** Mount entries of one unit. */
export const MOUNTS_MAX = 256;
/** A host or container path (PATH_MAX). */
export const PATH_MAX_BYTES = 4096;

/** Other lists (devices, capabilities add/drop, depends-on, mount options). */
export const LIST_MAX_ITEMS = 256;

/**
 * All of a unit's variable-size text together (command, args, env, mounts, health command). The per-field
 * limits alone would allow ~6 MiB; this keeps one workload comfortably inside a 4 MiB API message.
 */
export const UNIT_TEXT_MAX_BYTES = 2 * MiB;

export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Summed UTF-8 size of some strings (linear; no joined copy). */
export function totalBytes(items: Iterable<string>): number {
  let n = 0;
  for (const s of items) n += Buffer.byteLength(s, 'utf8');
  return n;
}
