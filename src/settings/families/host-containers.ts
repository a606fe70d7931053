// host-containers.<name>.*: long-running privileged or control containers on the host's containerd.
// Each instance becomes (or overlays) the unit of the same name: src/daemon/desired.ts.

import { z } from 'zod';
import { family, instances, settingMeta } from '../model.js';
import { booleanValue, imageReference, userData } from '../values.js';
import { containerName } from './wildcards.js';

export const hostContainer = z.object({
  enabled: booleanValue().prefault(false).register(settingMeta, { description: 'Whether the host container runs.' }),
  source: imageReference().register(settingMeta, { description: 'Image the host container runs.' }),
  superpowered: booleanValue().prefault(false).register(settingMeta, {
    description: 'Run privileged with host PID namespace and the host root mounted (admin-style).',
  }),
  // Base64 as configured; the daemon decodes it into the container's directory.
  userData: userData().optional().register(settingMeta, {
    // Secret: Bottlerocket-style user-data carries credentials (the control container's SSM activation
    // code, bootstrap scripts' join tokens), and the API socket is open to the `berth` group, not just root.
    sensitive: true,
    description: 'Opaque data written to the container\'s persistent directory as user-data.',
  }),
});

export type HostContainerSettings = z.output<typeof hostContainer>;

export const hostContainersFamily = family('host-containers', instances(containerName(), hostContainer));
