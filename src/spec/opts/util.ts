import type { OciSpec } from '../types.js';

/** Copy-on-write helper: every SpecOpt mutates a deep copy, never its input. */
export function produce(spec: OciSpec, change: (draft: OciSpec) => void): OciSpec {
  const draft = structuredClone(spec);
  change(draft);
  return draft;
}
