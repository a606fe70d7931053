// bootstrap-containers.<name>.*: containers run to completion before host containers start.

import { z } from 'zod';
import { family, instances, settingMeta } from '../model.js';
import { booleanValue, duration, enumValue, imageReference, userData } from '../values.js';
import { containerName } from './wildcards.js';

export const BOOTSTRAP_MODES = ['off', 'once', 'always'] as const;

export const bootstrapContainer = z.object({
  source: imageReference().register(settingMeta, { description: 'Image the bootstrap container runs.' }),
  mode: enumValue(BOOTSTRAP_MODES).prefault('off').register(settingMeta, {
    description: 'off: never run; once: run at next boot, then set to off; always: run at every boot.',
  }),
  essential: booleanValue().prefault(false).register(settingMeta, { description: 'Whether a failure of this container fails the boot.' }),
  userData: userData().optional().register(settingMeta, {
    sensitive: true,
    description: 'Opaque data written to the container\'s persistent directory as user-data.',
  }),
  // How a change of `source` is applied (src/supervisor/bootstrap-rollout.ts): the new image runs at once and
  // must exit 0 within the watch, else the previous image is put back. Unset: the unit file's [rollout]
  // table, else 5 min and guarded.
  rollout: z.object({
    watchMs: duration().optional().register(settingMeta, {
      key: 'watch',
      description: 'How long a new source may run before it must have exited 0; else the previous image is put back.',
    }),
    guard: booleanValue().optional().register(settingMeta, {
      description: 'false: a source change only takes effect at the next run, unproven, with no rollback.',
    }),
  }).optional(),
});

export type BootstrapContainerSettings = z.output<typeof bootstrapContainer>;
export type BootstrapMode = BootstrapContainerSettings['mode'];

export const bootstrapContainersFamily = family('bootstrap-containers', instances(containerName(), bootstrapContainer));
