// buildSpec: the default spec run through the SpecOpts that apply to the unit's class.
import type { UnitSpec } from '../units/types.js';
import { defaultSpec } from './defaults.js';
import { persistentDir, resolveInputs } from './inputs.js';
import { withApiSocket, withCgroupMount, withHostNetworkFiles, withPersistentStorage, withSuperpoweredMounts, withUnitMounts } from './opts/mounts.js';
import { withCgroupsPath, withNamespaces } from './opts/namespaces.js';
import { withCwd, withEnv, withNoNewPrivileges, withProcessArgs, withUser } from './opts/process.js';
import { withDevices, withResources } from './opts/resources.js';
import { withCapabilities, withPrivileged, withSeccomp, withSelinuxLabels } from './opts/security.js';
import type { BuildResult, SpecContext, SpecOpt } from './types.js';

/**
 * The ordered SpecOpts for a unit. Seccomp reads the capabilities, so it comes after them; it comes last
 * because every opt copies the spec it is given, and the profile is most of a spec's size.
 */
export function specOptsFor(unit: UnitSpec): SpecOpt[] {
  const privileged = unit.class === 'host' && unit.superpowered;
  const berthManaged = unit.class !== 'workload';
  return [
    withCgroupsPath,
    withProcessArgs, withEnv, withCwd, withUser, withNoNewPrivileges,
    withNamespaces,
    withCapabilities,
    ...(privileged ? [withPrivileged] : []),
    withResources, withDevices,
    ...(unit.namespaces.hostNetwork ? [withHostNetworkFiles] : []),
    // Workloads never see the API socket: container_t must not reach the control plane.
    ...(berthManaged ? [withApiSocket] : []),
    ...(berthManaged && unit.persistentStorage ? [withPersistentStorage] : []),
    ...(privileged ? [withSuperpoweredMounts] : []),
    withUnitMounts,
    // After the unit's mounts, as when the containerd backend added it to the finished spec.
    ...(berthManaged ? [] : [withCgroupMount]),
    withSelinuxLabels,
    ...(privileged ? [] : [withSeccomp]),
  ];
}

export function buildSpec(unit: UnitSpec, ctx: SpecContext): BuildResult {
  const resolved = resolveInputs(unit, ctx);
  if (!resolved.ok) return resolved;
  const { input } = resolved;
  const spec = specOptsFor(unit).reduce((s, opt) => opt(s, input), defaultSpec());
  const hostDirs = unit.class !== 'workload' && unit.persistentStorage ? [persistentDir(ctx.stateDir, unit.name)] : [];
  return { ok: true, spec, selinux: input.selinux, hostDirs };
}
