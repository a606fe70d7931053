import type { OciSpec } from '../types.js';

/**
 * Copy-on-write helper: every SpecOpt mutates a copy, never its input. The process's args and env are the
 * parts whose size a client chooses (up to 1 MiB each, src/units/limits.ts), so they are not deep-copied by
 * each of the ~15 opts of a build: the copy shares them, frozen, and an opt that changes them assigns a new
 * array (an in-place change would throw instead of altering the input).
 */
export function produce(spec: OciSpec, change: (draft: OciSpec) => void): OciSpec {
  const { args, env } = spec.process;
  Object.freeze(args);
  Object.freeze(env);
  const draft: OciSpec = structuredClone({ ...spec, process: { ...spec.process, args: [] as string[], env: [] as string[] } });
  draft.process.args = args;
  draft.process.env = env;
  change(draft);
  return draft;
}
