// SpecOpts for confinement: capabilities, seccomp, privileged mode, SELinux.
import { capabilitySet } from '../capabilities.js';
import { seccompProfile } from '../seccomp.js';
import type { SpecOpt } from '../types.js';
import { produce } from './util.js';

export const withCapabilities: SpecOpt = (spec, { unit, hostCapabilities }) => produce(spec, (s) => {
  const caps = capabilitySet(unit, hostCapabilities);
  s.process.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
});

/** Derived from the bounding set already in the spec, so it must run after withCapabilities. */
export const withSeccomp: SpecOpt = (spec, { unit }) => produce(spec, (s) => {
  // Bottlerocket's bootstrap containers may manage swap.
  const extra = unit.class === 'bootstrap' ? ['swapoff', 'swapon'] : [];
  s.linux.seccomp = seccompProfile(s.process.capabilities.bounding, extra);
});

/** containerd's WithPrivileged, for superpowered units only. */
export const withPrivileged: SpecOpt = (spec) => produce(spec, (s) => {
  s.linux.maskedPaths = [];
  s.linux.readonlyPaths = [];
  delete s.linux.seccomp;
  s.linux.resources.devices = [{ allow: true, access: 'rwm' }];
  s.linux.rootfsPropagation = 'rshared';
  for (const m of s.mounts) {
    if (m.type === 'sysfs') m.options = [...m.options.filter((o) => o !== 'ro'), 'rw'];
  }
});

/** Labels go into the spec only when the decision says so; otherwise the caller records them elsewhere. */
export const withSelinuxLabels: SpecOpt = (spec, { selinux }) => produce(spec, (s) => {
  if (!selinux.applied) {
    delete s.process.selinuxLabel;
    delete s.linux.mountLabel;
    return;
  }
  s.process.selinuxLabel = selinux.processLabel;
  s.linux.mountLabel = selinux.mountLabel;
});
