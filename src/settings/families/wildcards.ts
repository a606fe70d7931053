// The variable key segments families use. Each is a key schema for `instances()`; its rule (names.ts) says
// why a segment is refused, and the label names it in that error: `invalid container name "a/b": …`.

import type { z } from 'zod';
import { wildcardMeta } from '../model.js';
import { containerNameProblem, mirrorHostProblem, registryHostProblem } from '../names.js';
import { checkedString } from '../values.js';

export const containerName = (): z.ZodType<string> =>
  checkedString(containerNameProblem).register(wildcardMeta, { placeholder: '<name>', label: 'container name' });

export const registryHost = (): z.ZodType<string> =>
  checkedString(registryHostProblem).register(wildcardMeta, { placeholder: '<registry>', label: 'registry host' });

/** Mirrors also take `*`, the fallback for every registry. */
export const mirrorHost = (): z.ZodType<string> =>
  checkedString(mirrorHostProblem).register(wildcardMeta, { placeholder: '<mirror-registry>', label: 'registry host (or *)' });
