import { validateUnit } from '../units/index.js';
import { DEFAULT_ROLLOUT, type UnitSpec } from '../units/types.js';
import { effectiveNamespaces } from '../units/resolve.js';
import type { BootstrapContainerSettings, HostContainerSettings } from '../settings/index.js';

/** The units the settings ask for, before planning. */
export interface DesiredUnits {
  specs: UnitSpec[];
  /** Names that should be running (host units enabled, bootstrap units with a mode other than off). */
  running: Set<string>;
  errors: string[];
}

/** A unit made only from settings (a new `host-containers.<name>` or `bootstrap-containers.<name>`). */
function plainUnit(name: string, cls: 'host' | 'bootstrap', image: string): UnitSpec | string {
  const raw: Record<string, unknown> = { name, class: cls, image, description: `${cls} container from settings` };
  if (cls === 'bootstrap') raw.bootstrap = { mode: 'once' };
  const res = validateUnit(raw, `settings ${cls}-containers.${name}`);
  return res.ok ? res.unit : res.errors.map((e) => `${e.file}: ${e.path}: ${e.message}`).join('; ');
}

/** Settings win over the unit file's [rollout] table, key by key. */
function overlayRollout(unit: UnitSpec, base: UnitSpec, set: { watchMs?: number; guard?: boolean } | undefined): void {
  if (set?.watchMs === undefined && set?.guard === undefined) return;
  // No watch anywhere: the class's default (src/supervisor/rollout.ts), not a host container's.
  const watchMs = set.watchMs ?? base.rollout?.watchMs;
  unit.rollout = { ...(watchMs !== undefined ? { watchMs } : {}), guard: set.guard ?? base.rollout?.guard ?? DEFAULT_ROLLOUT.guard };
}

/**
 * Settings drive units (Bottlerocket's model): `host-containers.<name>` picks the unit of that name from
 * the unit dirs as its template (admin, control) or a plain host container, then overlays source,
 * superpowered and user-data. Units from the dirs that no setting mentions run as written.
 */
export function desiredUnits(loaded: ReadonlyMap<string, UnitSpec>, hosts: ReadonlyMap<string, HostContainerSettings>, bootstraps: ReadonlyMap<string, BootstrapContainerSettings>): DesiredUnits {
  const specs = new Map<string, UnitSpec>();
  const running = new Set<string>();
  const errors: string[] = [];
  for (const [name, unit] of loaded) {
    specs.set(name, unit);
    if (unit.class !== 'bootstrap' || unit.bootstrap?.mode !== 'off') running.add(name);
  }
  for (const [name, h] of hosts) {
    const template = loaded.get(name);
    if (template && template.class !== 'host') {
      errors.push(`host-containers.${name}: unit ${name} is a ${template.class} unit, not a host container`);
      continue;
    }
    const base = template ?? plainUnit(name, 'host', h.source);
    if (typeof base === 'string') {
      errors.push(base);
      continue;
    }
    const unit: UnitSpec = {
      ...base,
      image: h.source,
      superpowered: h.superpowered,
      namespaces: effectiveNamespaces({ class: 'host', superpowered: h.superpowered, namespaces: undefined }),
      // A superpowered container has every capability; a unit's add/drop list only applies without it.
      capabilities: h.superpowered ? { add: [], drop: [] } : base.capabilities,
      persistentStorage: true,
    };
    if (h.userData !== undefined) unit.userData = h.userData;
    else delete unit.userData;
    overlayRollout(unit, base, h.rollout);
    specs.set(name, unit);
    if (h.enabled) running.add(name);
    else running.delete(name);
  }
  for (const [name, b] of bootstraps) {
    const template = loaded.get(name);
    if (template && template.class !== 'bootstrap') {
      errors.push(`bootstrap-containers.${name}: unit ${name} is a ${template.class} unit, not a bootstrap container`);
      continue;
    }
    const base = template ?? plainUnit(name, 'bootstrap', b.source);
    if (typeof base === 'string') {
      errors.push(base);
      continue;
    }
    const unit: UnitSpec = { ...base, image: b.source, bootstrap: { mode: b.mode, essential: b.essential, order: base.bootstrap?.order ?? 0 } };
    if (b.userData !== undefined) unit.userData = b.userData;
    overlayRollout(unit, base, b.rollout);
    specs.set(name, unit);
    if (b.mode === 'off') running.delete(name);
    else running.add(name);
  }
  return { specs: [...specs.values()], running, errors };
}
