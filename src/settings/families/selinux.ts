// selinux.*: how berth labels containers.

import { z } from 'zod';
import { family, settingMeta } from '../model.js';
import { enumValue } from '../values.js';

export const SELINUX_MODES = ['auto', 'enforce', 'off'] as const;

export const selinux = z.object({
  mode: enumValue(SELINUX_MODES).prefault('auto').register(settingMeta, {
    description: 'auto: label containers when SELinux is enabled on the host; enforce: refuse to run without it; off: never label.',
  }),
});

export type SelinuxSettings = z.output<typeof selinux>;
export type SelinuxMode = SelinuxSettings['mode'];

export const selinuxFamily = family('selinux', selinux);
