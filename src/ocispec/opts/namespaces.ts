// SpecOpts for namespaces and the cgroup path.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { OciNamespaceType, SpecOpt } from '../types.js';
import { produce } from './util.js';

/** Leaving out a namespace entry means sharing the host's (runc semantics). */
export const withNamespaces: SpecOpt = (spec, { unit }) => produce(spec, (s) => {
  const shared = new Set<OciNamespaceType>();
  if (unit.namespaces.hostNetwork) shared.add('network');
  if (unit.namespaces.hostPid) shared.add('pid');
  s.linux.namespaces = s.linux.namespaces.filter((n) => !shared.has(n.type));
});

/** berthd's default --run-dir (daemon/main.ts): the host's own berth. */
const DEFAULT_RUN_DIR = '/run/berth';

/**
 * The cgroup parent of one berth instance: /<namespace> for the host's berth, as containerd lays it out.
 * Any other berth on the host (another run dir: a second berth, the test suite) gets /<namespace>-<8 hex of
 * its run dir's hash>, because two containers in one cgroup are one container to runc: a SIGKILL to all of
 * one's processes (stop, remove) would kill the other's too, and the same namespace and unit name are common.
 */
export function cgroupParent(namespace: string, runDir: string): string {
  if (path.resolve(runDir) === DEFAULT_RUN_DIR) return `/${namespace}`;
  return `/${namespace}-${createHash('sha256').update(path.resolve(runDir)).digest('hex').slice(0, 8)}`;
}

/** cgroupfs driver layout, as containerd does it: <cgroup parent>/<container id>. */
export const withCgroupsPath: SpecOpt = (spec, { ctx }) => produce(spec, (s) => {
  s.linux.cgroupsPath = `${cgroupParent(ctx.namespace, ctx.runDir ?? path.dirname(ctx.apiSocketPath))}/${ctx.containerId}`;
});
