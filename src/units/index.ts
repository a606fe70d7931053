// Public surface of the units module.
export { formatUnitError, type UnitError, type UnitResult } from './errors.js';
export { parseUnit } from './parse.js';
export { validateUnit } from './validate.js';
export { loadUnits, DEFAULT_UNIT_DIRS, type LoadResult } from './load.js';
export { specHash, canonicalJson } from './hash.js';
export { checkDependencies, bootstrapRunOrder, findCycles, type LoadedUnit } from './deps.js';
export { effectiveStopSignal, normalizeSignal, signalNumber } from './signals.js';
export {
  KNOWN_CAPABILITIES, CONTAINERD_DEFAULT_CAPS, BOOTSTRAP_EXTRA_CAPS, WORKLOAD_DEFAULT_CAPS,
  WORKLOAD_ADDABLE_CAPS, normalizeCapability,
} from './capabilities.js';
export { parseDuration, parseSize } from './quantities.js';
export * from './types.js';
