// The step between a settings commit and the supervisor: which units, with which inputs (their planned
// specs), and what changed since the previous desired state. The supervisor receives the result ready to
// run; nothing on its launch path calls back here.
import type { UnitSpec } from '../units/types.js';
import { specHash } from '../units/index.js';
import type { SpecPlan } from '../ocispec/plan.js';
import type { BootstrapContainerSettings, HostContainerSettings } from '../settings/index.js';
import type { DesiredUnit } from '../supervisor/types.js';
import { desiredUnits } from './units.js';

export interface DesiredState {
  units: DesiredUnit[];
  /** Units added, removed, or whose spec or running/stopped changed since the previous state, by name. */
  changed: string[];
  /** Units that could not be made (a setting names a unit of another class, an invalid image…). */
  errors: string[];
  /** Units whose plan refuses every start (they are in `units` and fail with this reason when started). */
  refused: Array<{ unit: string; reason: string }>;
}

export interface SettingsInputs {
  hostContainers: ReadonlyMap<string, HostContainerSettings>;
  bootstrapContainers: ReadonlyMap<string, BootstrapContainerSettings>;
}

/** Fingerprint of a desired unit for change detection: its spec and whether it should run. */
function fingerprint(d: DesiredUnit): string {
  return `${specHash(d.plan.unit)}:${d.want}`;
}

/**
 * Units from the unit dirs (read at start-up and on reload, not here) and the settings' host and bootstrap
 * container families → planned desired units. `plan` is the one spec planner (ocispec/context.ts).
 */
export function desiredState(loaded: ReadonlyMap<string, UnitSpec>, settings: SettingsInputs, plan: (unit: UnitSpec) => SpecPlan, previous?: DesiredState): DesiredState {
  const made = desiredUnits(loaded, settings.hostContainers, settings.bootstrapContainers);
  const units = made.specs.map((spec): DesiredUnit => ({ plan: plan(spec), want: made.running.has(spec.name) ? 'running' : 'stopped' }));
  const before = new Map((previous?.units ?? []).map((d) => [d.plan.unit.name, fingerprint(d)]));
  const changed: string[] = [];
  for (const d of units) {
    if (before.get(d.plan.unit.name) !== fingerprint(d)) changed.push(d.plan.unit.name);
    before.delete(d.plan.unit.name);
  }
  changed.push(...before.keys());
  const refused = units.flatMap((d) => (d.plan.refused ? [{ unit: d.plan.unit.name, reason: d.plan.refused.map((e) => `${e.path}: ${e.message}`).join('; ') }] : []));
  return { units, changed: changed.sort(), errors: made.errors, refused };
}
