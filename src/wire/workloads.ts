// berth.v1 workload messages ↔ WorkloadRequest / WorkloadInfo, both directions (server and client).
import type { WireWorkload, WireWorkloadSpec } from './messages.js';
import { MessageValidationError } from './errors.js';
import { unitFromWire, unitToWire } from './convert.js';
import { RESTART_POLICIES, type RestartPolicy, type UnitStatus, type WorkloadInfo, type WorkloadRequest } from './types.js';

const present = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

export function specToWire(r: WorkloadRequest): WireWorkloadSpec {
  return {
    name: r.name, image: r.image, command: r.command, env: r.env,
    ...(r.memoryBytes !== undefined ? { memory_bytes: r.memoryBytes } : {}),
    ...(r.cpus !== undefined ? { cpus: r.cpus } : {}),
    ...(r.pids !== undefined ? { pids: r.pids } : {}),
    mounts: r.mounts.map((m) => ({ source: m.source, destination: m.destination, read_only: m.readOnly })),
    restart: r.restart, cap_add: r.capAdd, privileged: r.privileged, host_network: r.hostNetwork, host_pid: r.hostPid, devices: r.devices,
  };
}

/** Wire → request; an empty restart means the default (always). */
export function specFromWire(w: WireWorkloadSpec | null | undefined): WorkloadRequest {
  if (!w) throw new MessageValidationError('spec', 'is required');
  const restart = w.restart === '' || w.restart === undefined ? 'always' : w.restart;
  if (!RESTART_POLICIES.includes(restart as RestartPolicy)) throw new MessageValidationError('restart', `must be one of ${RESTART_POLICIES.join(', ')} (got ${JSON.stringify(w.restart)})`);
  return {
    name: w.name, image: w.image, command: [...(w.command ?? [])], env: { ...(w.env ?? {}) },
    ...(present(w.memory_bytes) ? { memoryBytes: w.memory_bytes } : {}),
    ...(present(w.cpus) ? { cpus: w.cpus } : {}),
    ...(present(w.pids) ? { pids: w.pids } : {}),
    mounts: (w.mounts ?? []).map((m) => ({ source: m.source, destination: m.destination, readOnly: m.read_only })),
    restart: restart as RestartPolicy,
    capAdd: [...(w.cap_add ?? [])], privileged: w.privileged ?? false, hostNetwork: w.host_network ?? false, hostPid: w.host_pid ?? false,
    devices: [...(w.devices ?? [])],
  };
}

export function workloadToWire(w: WorkloadInfo): WireWorkload {
  return { spec: specToWire(w.request), runtime: w.runtime, mcs: w.mcs, status: unitToWire(w.status) };
}

export function workloadFromWire(w: WireWorkload): WorkloadInfo {
  return {
    request: specFromWire(w.spec),
    runtime: w.runtime === 'docker' ? 'docker' : 'containerd',
    mcs: w.mcs,
    status: w.status ? unitFromWire(w.status) : ({} as UnitStatus),
  };
}
