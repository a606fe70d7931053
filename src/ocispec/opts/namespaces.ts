// SpecOpts for namespaces and the cgroup path.
import type { OciNamespaceType, SpecOpt } from '../types.js';
import { produce } from './util.js';

/** Leaving out a namespace entry means sharing the host's (runc semantics). */
export const withNamespaces: SpecOpt = (spec, { unit }) => produce(spec, (s) => {
  const shared = new Set<OciNamespaceType>();
  if (unit.namespaces.hostNetwork) shared.add('network');
  if (unit.namespaces.hostPid) shared.add('pid');
  s.linux.namespaces = s.linux.namespaces.filter((n) => !shared.has(n.type));
});

/** cgroupfs driver layout, as containerd does it: /<namespace>/<container id>. */
export const withCgroupsPath: SpecOpt = (spec, { ctx }) => produce(spec, (s) => {
  s.linux.cgroupsPath = `/${ctx.namespace}/${ctx.containerId}`;
});
