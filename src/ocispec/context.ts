// The one place a SpecContext is put together: the host's facts (fixed for a berthd's life) plus what the
// settings say at the moment of a build. Host containers and workloads used to assemble it each on their
// own (berthd.ts, workloads/wiring.ts), which let the two drift; both now call this factory.
import { normalizeCapability } from '../units/index.js';
import type { UnitSpec } from '../units/types.js';
import type { ImageConfig, SpecContext } from './types.js';

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

/** What the settings say, read at each build (a commit may have changed it). */
export interface SpecSettings {
  selinuxMode: SpecContext['selinux']['mode'];
  hostPathAllowList: readonly string[];
  /**
   * Workloads: the capabilities they may be granted at all (workloads.allowed-capabilities); the host's
   * set is capped to these. Undefined for host containers.
   */
  capabilityCap?: readonly string[];
}

export type SpecContextFor = (unit: UnitSpec, image: ImageConfig) => SpecContext;

export function specContextFactory(host: HostSpecFacts, settings: () => SpecSettings, mcsOf: (unit: UnitSpec) => [number, number] | undefined): SpecContextFor {
  return (unit, image) => {
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
      imageConfig: image,
      ...(host.absentHostPaths ? { absentHostPaths: [...host.absentHostPaths] } : {}),
    };
  };
}
