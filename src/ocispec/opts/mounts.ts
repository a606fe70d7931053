// SpecOpts for mounts. berth's own mounts come before unit mounts, and unit
// mounts are ordered parents-first so a declared mount is never shadowed.
import { depth } from '../../units/paths.js';
import { persistentDir, HOST_CONTAINERS_DIR } from '../inputs.js';
import type { OciMount, SpecOpt } from '../types.js';
import { produce } from './util.js';

export const API_SOCKET_DESTINATION = '/run/berth/api.sock';
export const PERSISTENT_DESTINATION_ROOT = `/.berth/${HOST_CONTAINERS_DIR}`;
export const HOST_ROOTFS_DESTINATION = '/.berth/rootfs';

function bind(source: string, destination: string, options: string[]): OciMount {
  return { destination, type: 'bind', source, options };
}

/** Host-network units resolve names like the host does. */
export const withHostNetworkFiles: SpecOpt = (spec) => produce(spec, (s) => {
  for (const file of ['/etc/hosts', '/etc/resolv.conf']) {
    s.mounts.push(bind(file, file, ['rbind', 'ro', 'nosuid', 'nodev', 'noexec']));
  }
});

/**
 * Read-only is enough: connect(2) on a socket ignores the mount's ro flag, while
 * ro stops the container from unlinking or replacing the socket file.
 */
export const withApiSocket: SpecOpt = (spec, { ctx }) => produce(spec, (s) => {
  s.mounts.push(bind(ctx.apiSocketPath, API_SOCKET_DESTINATION, ['bind', 'ro', 'nosuid', 'nodev', 'noexec']));
});

export const withPersistentStorage: SpecOpt = (spec, { unit, ctx }) => produce(spec, (s) => {
  s.mounts.push(bind(persistentDir(ctx.stateDir, unit.name), `${PERSISTENT_DESTINATION_ROOT}/${unit.name}`,
    ['rbind', 'rw', 'nosuid', 'nodev']));
});

/**
 * The host's root (top mount read-only, propagation shared so host mounts appear) and kernel modules —
 * unless the host has none (a minimal VM or a container build host), where runc would refuse the bind.
 */
export const withSuperpoweredMounts: SpecOpt = (spec, { ctx }) => produce(spec, (s) => {
  s.mounts.push(bind('/', HOST_ROOTFS_DESTINATION, ['rbind', 'rshared', 'ro']));
  if (!(ctx.absentHostPaths ?? []).includes('/lib/modules')) s.mounts.push(bind('/lib/modules', '/lib/modules', ['rbind', 'ro']));
});

export const withUnitMounts: SpecOpt = (spec, { unit, bindSources }) => produce(spec, (s) => {
  const mounts = unit.mounts.map((m, i): OciMount => {
    if (m.type === 'tmpfs') {
      return {
        destination: m.destination, type: 'tmpfs', source: 'tmpfs',
        options: [...m.options, `size=${m.sizeBytes}`, `mode=${m.mode.toString(8).padStart(4, '0')}`],
      };
    }
    const options: string[] = [...m.options];
    // Workload binds never carry setuid binaries or device nodes into the container.
    if (unit.class === 'workload') for (const o of ['nosuid', 'nodev']) if (!options.includes(o)) options.push(o);
    return bind(bindSources.get(i) ?? m.source, m.destination, options);
  });
  // Stable sort by depth: parents first, declared order otherwise.
  mounts.sort((a, b) => depth(a.destination) - depth(b.destination));
  s.mounts.push(...mounts);
});

/** The container's own cgroups, read-only (runc mounts only the container's cgroup directories there). */
export const CGROUP_MOUNT: Readonly<OciMount> = Object.freeze({
  destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: Object.freeze(['ro', 'nosuid', 'noexec', 'nodev']) as string[],
});

/**
 * Workloads see their own limits, as Docker shows every container (on Docker the engine mounts it itself
 * and this mount, not a bind or tmpfs, is not passed on). Right after /sys, before any unit mount; a spec
 * that already mounts something at /sys/fs/cgroup is left as it is.
 */
export const withCgroupMount: SpecOpt = (spec) => {
  if (spec.mounts.some((m) => m.destination === CGROUP_MOUNT.destination)) return spec;
  return produce(spec, (s) => {
    const sys = s.mounts.findIndex((m) => m.destination === '/sys');
    s.mounts.splice(sys >= 0 ? sys + 1 : s.mounts.length, 0, { ...CGROUP_MOUNT, options: [...CGROUP_MOUNT.options] });
  });
};
