// workloads.*: the policy orchestrator workloads run under (src/workloads/policy.ts enforces it).

import { z } from 'zod';
import { family, settingMeta } from '../model.js';
import { absolutePaths, booleanValue, capabilities, enumValue } from '../values.js';

export const WORKLOAD_RUNTIMES = ['containerd', 'docker'] as const;

export const workloads = z.object({
  runtime: enumValue(WORKLOAD_RUNTIMES).prefault('containerd').register(settingMeta, { description: 'Runtime backend for workload containers.' }),
  hostPathAllowList: absolutePaths().prefault([]).register(settingMeta, { description: 'Host paths (and their subtrees) workloads may bind-mount.' }),
  allowedCapabilities: capabilities().prefault([]).register(settingMeta, { description: 'Capabilities workloads may be granted.' }),
  requireMemoryLimit: booleanValue().prefault(false).register(settingMeta, { description: 'Refuse workloads that do not set a memory limit.' }),
});

export type WorkloadsSettings = z.output<typeof workloads>;
export type WorkloadRuntime = WorkloadsSettings['runtime'];

export const workloadsFamily = family('workloads', workloads);
