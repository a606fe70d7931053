// The capability set a unit runs with, per class. Pure and separate from the
// SpecOpt so the exact sets can be tested and documented on their own.
import {
  BOOTSTRAP_EXTRA_CAPS, CONTAINERD_DEFAULT_CAPS, KNOWN_CAPABILITIES, WORKLOAD_DEFAULT_CAPS,
} from '../units/capabilities.js';
import type { UnitSpec } from '../units/types.js';

export function baseCapabilities(unit: UnitSpec): readonly string[] {
  switch (unit.class) {
    case 'host': return CONTAINERD_DEFAULT_CAPS;
    case 'bootstrap': return [...new Set([...CONTAINERD_DEFAULT_CAPS, ...BOOTSTRAP_EXTRA_CAPS])];
    case 'workload': return WORKLOAD_DEFAULT_CAPS;
  }
}

function inKnownOrder(caps: Iterable<string>): string[] {
  const set = new Set(caps);
  return KNOWN_CAPABILITIES.filter((c) => set.has(c));
}

/**
 * Superpowered: every capability the host grants. Otherwise the class base,
 * minus `drop` ("ALL" empties it), plus `add`, limited to what the host grants.
 */
export function capabilitySet(unit: UnitSpec, hostCapabilities: readonly string[]): string[] {
  const host = new Set(hostCapabilities);
  if (unit.superpowered) return inKnownOrder(host);
  const drop = new Set(unit.capabilities.drop);
  const kept = drop.has('ALL') ? [] : baseCapabilities(unit).filter((c) => !drop.has(c));
  return inKnownOrder([...kept, ...unit.capabilities.add].filter((c) => host.has(c)));
}
