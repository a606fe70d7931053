// SELinux labels per unit class (Bottlerocket's policy types) and the
// decision whether to put them into the spec.
import type { UnitError } from '../units/errors.js';
import type { UnitSpec } from '../units/types.js';
import type { SelinuxDecision, SpecContext } from './types.js';

export const LABELS = {
  control: 'system_u:system_r:control_t:s0-s0:c0.c1023',
  super: 'system_u:system_r:super_t:s0-s0:c0.c1023',
  secretFile: 'system_u:object_r:secret_t:s0',
} as const;

export function mcsLevel([a, b]: [number, number]): string {
  return `s0:c${Math.min(a, b)},c${Math.max(a, b)}`;
}

/** Why `mcs` is unusable for a workload, or undefined when it is fine. */
export function mcsProblem(mcs: [number, number] | undefined): string | undefined {
  if (mcs === undefined) return 'workloads need a pair of MCS categories (allocate one with allocateMcs)';
  const [a, b] = mcs;
  if (![a, b].every((c) => Number.isInteger(c) && c >= 0 && c <= 1023)) return 'categories must be integers in 0..1023';
  if (a === b) return 'the two categories must differ (c' + a + ',c' + b + ' would not isolate workloads)';
  return undefined;
}

/** The labels a unit runs with; mcs must be valid for workloads (checked by the caller). */
export function labelsFor(unit: UnitSpec, mcs: [number, number] | undefined): { processLabel: string; mountLabel: string } {
  if (unit.class === 'workload') {
    const level = mcsLevel(mcs ?? [0, 1]);
    return {
      processLabel: `system_u:system_r:container_t:${level}`,
      mountLabel: `system_u:object_r:container_file_t:${level}`,
    };
  }
  return {
    processLabel: unit.class === 'host' && unit.superpowered ? LABELS.super : LABELS.control,
    mountLabel: LABELS.secretFile,
  };
}

/** Applies the mode/active matrix. The labels are always returned so the caller can record intent. */
export function decideSelinux(
  labels: { processLabel: string; mountLabel: string },
  selinux: SpecContext['selinux'],
): { ok: true; decision: SelinuxDecision } | { ok: false; error: UnitError } {
  if (selinux.mode === 'off') {
    return { ok: true, decision: { ...labels, applied: false, reason: 'selinux.mode is off' } };
  }
  if (!selinux.active) {
    if (selinux.mode === 'enforce') {
      return { ok: false, error: { path: 'selinux.mode', message: 'enforce requires SELinux to be active on the host' } };
    }
    return { ok: true, decision: { ...labels, applied: false, reason: 'SELinux is not active on the host (mode auto); labels recorded, not applied' } };
  }
  return { ok: true, decision: { ...labels, applied: true, reason: `SELinux is active (mode ${selinux.mode})` } };
}
