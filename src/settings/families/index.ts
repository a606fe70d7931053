// Every settings family, in the order keys are listed (`--help`, `settings keys`) and matched.

import type { SettingsFamily } from '../model.js';
import { bootstrapContainersFamily } from './bootstrap-containers.js';
import { containerRegistryFamily } from './container-registry.js';
import { fleetFamily } from './fleet.js';
import { hostContainersFamily } from './host-containers.js';
import { imagesFamily } from './images.js';
import { ociRuntimeFamily } from './oci-runtime.js';
import { selinuxFamily } from './selinux.js';
import { updatesFamily } from './updates.js';
import { workloadsFamily } from './workloads.js';

export const FAMILIES: readonly SettingsFamily[] = [
  hostContainersFamily,
  bootstrapContainersFamily,
  selinuxFamily,
  containerRegistryFamily,
  workloadsFamily,
  imagesFamily,
  ociRuntimeFamily,
  fleetFamily,
  updatesFamily,
];

export * from './bootstrap-containers.js';
export * from './container-registry.js';
export * from './fleet.js';
export * from './host-containers.js';
export * from './images.js';
export * from './oci-runtime.js';
export * from './selinux.js';
export * from './updates.js';
export * from './workloads.js';
