// The spec, planned before the supervisor. A settings commit (or a workload request) yields, per unit, a
// SpecPlan: the context fixed at that moment and the unit already checked by a full build. A start then
// only composes the plan with what it alone can know — the image's config, and the host's answer for each
// workload bind source, both read at every start — as containerd's Go client applies WithImageConfig when it
// creates the container. Both steps are pure; nothing here reads the host.
import type { UnitSpec } from '../units/types.js';
import type { UnitError } from '../units/errors.js';
import { buildSpec } from './build.js';
import { HOST_CONTAINERS_DIR, persistentDir } from './inputs.js';
import type { BuildResult, HostDir, ImageConfig, PlanContext, StartFacts } from './types.js';
import path from 'node:path';

export interface SpecPlan {
  unit: UnitSpec;
  ctx: PlanContext;
  /** Host dirs to make before the container is created. */
  hostDirs: HostDir[];
  /** Why no start can succeed (the unit breaks a host rule whatever the image says); absent when planned. */
  refused?: UnitError[];
}

/**
 * The image config a plan is checked with: an image that runs something as root and says nothing else, so
 * every rule checked is the unit's own; what depends on the real image ("nothing to run", a non-numeric
 * image user) is checked when it is known, at start.
 */
const ANY_IMAGE: ImageConfig = { env: [], entrypoint: [], cmd: ['true'], workingDir: '', user: '' };

export function planSpec(unit: UnitSpec, ctx: PlanContext): SpecPlan {
  const hostDirs: HostDir[] = unit.class !== 'workload' && unit.persistentStorage
    ? [{ root: path.join(ctx.stateDir, HOST_CONTAINERS_DIR), path: persistentDir(ctx.stateDir, unit.name), ...(unit.userData !== undefined ? { userData: unit.userData } : {}) }]
    : [];
  const checked = buildSpec(unit, { ...ctx, imageConfig: ANY_IMAGE });
  return { unit, ctx, hostDirs, ...(checked.ok ? {} : { refused: checked.errors }) };
}

/** The runtime spec for one start: the plan with the image's config and the host's bind-source facts. */
export function finishSpec(plan: SpecPlan, facts: StartFacts): BuildResult {
  if (plan.refused) return { ok: false, errors: plan.refused };
  return buildSpec(plan.unit, { ...plan.ctx, imageConfig: facts.image, ...(facts.hostPaths ? { hostPaths: facts.hostPaths } : {}) });
}
