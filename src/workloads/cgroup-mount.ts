// Workloads see their own limits: the container's cgroups mounted read-only at /sys/fs/cgroup (runc
// mounts only the container's own cgroup directories there), as Docker does for every container.
import type { OciSpec } from '../spec/types.js';

export const CGROUP_MOUNT = { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] } as const;

export function withCgroupMount(spec: OciSpec): OciSpec {
  if (spec.mounts.some((m) => m.destination === CGROUP_MOUNT.destination)) return spec;
  const mounts = [...spec.mounts];
  // Right after /sys, before any unit mount.
  const sys = mounts.findIndex((m) => m.destination === '/sys');
  mounts.splice(sys >= 0 ? sys + 1 : mounts.length, 0, { ...CGROUP_MOUNT, options: [...CGROUP_MOUNT.options] });
  return { ...spec, mounts };
}
