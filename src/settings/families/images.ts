// images.*: when images are pulled and the limits every pull and import runs under.

import { z } from 'zod';
import { family, settingMeta } from '../model.js';
import { duration, enumValue, size } from '../values.js';

export const PULL_POLICIES = ['if-not-present', 'always'] as const;

export const images = z.object({
  pullPolicy: enumValue(PULL_POLICIES).prefault('if-not-present').register(settingMeta, {
    description: 'if-not-present: use a cached image when there is one (works offline); always: pull on every start.',
  }),
  /** Bytes. */
  maxUnpackedSize: size().prefault('8Gi').register(settingMeta, {
    description: 'Largest size one layer of an imported image may unpack to; a larger one is refused before it is unpacked.',
  }),
  // A registry is untrusted: without these a server dripping a byte every few seconds keeps a unit in
  // `preparing` forever. Readers get milliseconds, hence the property names.
  pullTimeoutMs: duration().prefault('30m').register(settingMeta, {
    key: 'pull-timeout',
    description: 'Longest a whole image pull (resolve, download, unpack) may take before it is given up.',
  }),
  pullStallTimeoutMs: duration().prefault('30s').register(settingMeta, {
    key: 'pull-stall-timeout',
    description: 'A pull whose registry sends less than 1 KiB (and completes no response) for this long is given up as stalled.',
  }),
});

export type ImagesSettings = z.output<typeof images>;
export type PullPolicy = ImagesSettings['pullPolicy'];

export const imagesFamily = family('images', images);
