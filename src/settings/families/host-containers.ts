// host-containers.<name>.*: long-running privileged or control containers on the host's containerd.
// Each instance becomes (or overlays) the unit of the same name: src/daemon/desired.ts.

import { z } from 'zod';
import { family, instances, settingMeta } from '../model.js';
import { booleanValue, duration, imageReference, userData } from '../values.js';
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
  // How a change of `source` is applied while the container runs (src/supervisor/rollout.ts). Unset: the
  // unit file's [rollout] table, else 30 s and guarded.
  rollout: z.object({
    watchMs: duration().optional().register(settingMeta, {
      key: 'watch',
      description: 'How long a new source must keep running (and pass its health check) before it is kept; else the previous image is put back.',
    }),
    guard: booleanValue().optional().register(settingMeta, {
      description: 'false: a source change is a plain stop and start, with no watch and no rollback.',
    }),
  }).optional(),
});

export type HostContainerSettings = z.output<typeof hostContainer>;

export const hostContainersFamily = family('host-containers', instances(containerName(), hostContainer));
