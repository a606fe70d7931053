// Public surface of the spec module.
export { buildSpec, specOptsFor } from './build.js';
export { defaultSpec, DEFAULT_STATE_DIR, DEFAULT_PATH_ENV } from './defaults.js';
export { allocateMcs } from './mcs.js';
export { seccompProfile } from './seccomp.js';
export { capabilitySet, baseCapabilities } from './capabilities.js';
export { labelsFor, decideSelinux, LABELS } from './selinux.js';
export { resolveInputs, persistentDir, parseImageUser } from './inputs.js';
export * from './opts/process.js';
export * from './opts/namespaces.js';
export * from './opts/mounts.js';
export * from './opts/security.js';
export * from './opts/resources.js';
export type * from './types.js';
