// A workload as an operator asks for it (API, CLI) and as berth keeps it. Field names here are the ones
// policy errors name, so a refusal points at what the operator wrote (`mounts[0].source`, `cap_add[1]`).
import type { RestartPolicy } from '../units/types.js';

export interface WorkloadMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

export interface WorkloadRequest {
  name: string;
  image: string;
  /** Replaces the image's entrypoint and cmd when non-empty. */
  command: string[];
  env: Record<string, string>;
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
  mounts: WorkloadMount[];
  restart: RestartPolicy;
  capAdd: string[];
  // Asked-for privileges a workload never gets; present so a request naming them is refused, not ignored.
  privileged: boolean;
  hostNetwork: boolean;
  hostPid: boolean;
  devices: string[];
}

/** What is persisted per workload: the request, its MCS pair and whether it should run. */
export interface WorkloadRecord {
  request: WorkloadRequest;
  mcs: [number, number];
  desired: 'running' | 'stopped';
  createdAt: string;
}

export type WorkloadBackendName = 'containerd' | 'docker';

/** A refusal: the request field at fault and why. */
export interface PolicyViolation {
  field: string;
  message: string;
}

/**
 * The order of WorkloadStore.all() (and so of `workloads ls` and of list pages). A total order: names that collate
 * equal are ordered by code unit, so a page token (the last name of a page) never skips or repeats one.
 */
export function compareWorkloadNames(a: string, b: string): number {
  return a.localeCompare(b) || (a < b ? -1 : a > b ? 1 : 0);
}
