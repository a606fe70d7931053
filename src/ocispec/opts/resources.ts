// SpecOpts for cgroup limits and device access.
import type { SpecOpt } from '../types.js';
import { produce } from './util.js';

export const CPU_PERIOD_US = 100_000;

export const withResources: SpecOpt = (spec, { unit }) => produce(spec, (s) => {
  const { memoryBytes, cpus, pids } = unit.resources;
  // swap = limit: the unit gets no swap on top of its memory limit.
  if (memoryBytes !== undefined) s.linux.resources.memory = { limit: memoryBytes, swap: memoryBytes };
  if (cpus !== undefined) s.linux.resources.cpu = { quota: Math.round(cpus * CPU_PERIOD_US), period: CPU_PERIOD_US };
  if (pids !== undefined) s.linux.resources.pids = { limit: pids };
});

/** Each declared device: a node in the container and a matching cgroup allow rule. */
export const withDevices: SpecOpt = (spec, { devices }) => produce(spec, (s) => {
  if (devices.length === 0) return;
  s.linux.devices = [
    ...(s.linux.devices ?? []),
    ...devices.map((d) => ({ path: d.path, type: d.node.type, major: d.node.major, minor: d.node.minor, fileMode: 0o666, uid: 0, gid: 0 })),
  ];
  s.linux.resources.devices.push(...devices.map((d) => ({
    allow: true, type: d.node.type, major: d.node.major, minor: d.node.minor, access: d.permissions,
  })));
});
