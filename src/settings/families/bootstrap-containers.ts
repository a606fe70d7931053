// bootstrap-containers.<name>.*: containers run to completion before host containers start.

import { z } from 'zod';
import { family, instances, settingMeta } from '../model.js';
import { booleanValue, enumValue, imageReference, userData } from '../values.js';
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
});

export type BootstrapContainerSettings = z.output<typeof bootstrapContainer>;
export type BootstrapMode = BootstrapContainerSettings['mode'];

export const bootstrapContainersFamily = family('bootstrap-containers', instances(containerName(), bootstrapContainer));
