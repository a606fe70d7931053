// The one place a SpecContext is put together: the host's facts (fixed for a berthd's life) plus what the
// settings say at the moment of a plan (each commit). Host containers and workloads used to assemble it each on their
// own (berthd.ts, workloads/wiring.ts), which let the two drift; both now call this factory.
import { normalizeCapability } from '../units/index.js';
import type { UnitSpec } from '../units/types.js';
import type { PlanContext } from './types.js';
import { planSpec, type SpecPlan } from './plan.js';

/** What berthd knows of its host and its own dirs when it starts. */
export interface HostSpecFacts {
  namespace: string;
  stateDir: string;
  runDir: string;
  apiSocketPath: string;
  selinuxActive: boolean;
  /** Capabilities this host can grant at all. */
  hostCapabilities: readonly string[];
  /** Host paths the class defaults would bind but this host lacks (e.g. /lib/modules in a test VM). */
  absentHostPaths?: readonly string[];
}

/** What the settings say, read at each plan (every commit plans again). */
export interface SpecSettings {
  selinuxMode: PlanContext['selinux']['mode'];
  hostPathAllowList: readonly string[];
  /**
   * Workloads: the capabilities they may be granted at all (workloads.allowed-capabilities); the host's
   * set is capped to these. Undefined for host containers.
   */
  capabilityCap?: readonly string[];
}

export type SpecContextFor = (unit: UnitSpec) => PlanContext;

export function specContextFactory(host: HostSpecFacts, settings: () => SpecSettings, mcsOf: (unit: UnitSpec) => [number, number] | undefined): SpecContextFor {
  return (unit) => {
    const s = settings();
    let capabilities = [...host.hostCapabilities];
    if (s.capabilityCap !== undefined) {
      const allowed = new Set(s.capabilityCap.flatMap((c) => {
        const n = normalizeCapability(c, false);
        return n.ok ? [n.value] : [];
      }));
      capabilities = capabilities.filter((c) => allowed.has(c));
    }
    const mcs = mcsOf(unit);
    return {
      containerId: unit.name,
      namespace: host.namespace,
      stateDir: host.stateDir,
      apiSocketPath: host.apiSocketPath,
      runDir: host.runDir,
      selinux: { mode: s.selinuxMode, active: host.selinuxActive },
      ...(mcs ? { mcs } : {}),
      hostPathAllowList: [...s.hostPathAllowList],
      hostCapabilities: capabilities,
      ...(host.absentHostPaths ? { absentHostPaths: [...host.absentHostPaths] } : {}),
    };
  };
}

/** The one spec planner: a unit → its SpecPlan, in the context this factory makes at that moment. */
export function specPlanner(contextFor: SpecContextFor): (unit: UnitSpec) => SpecPlan {
  return (unit) => planSpec(unit, contextFor(unit));
}
