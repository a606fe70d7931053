// A Supervisor over a fake runtime, for unit tests of its logic: silent logger, no bootstrap markers, logs
// under `dir`. Desired units are planned with a plain context (planned()); fake runtimes get their images
// from testImages() (an image that runs /bin/true unless told otherwise). Tests override what they exercise.
import { pino } from 'pino';
import { Supervisor, type SupervisorDeps } from '../../src/supervisor/supervisor.js';
import { LogStore } from '../../src/supervisor/log-store.js';
import { planSpec } from '../../src/ocispec/plan.js';
import type { ImageConfig, PlanContext } from '../../src/ocispec/types.js';
import type { ImageSource, Runtime } from '../../src/runtime/types.js';
import type { DesiredUnit } from '../../src/supervisor/types.js';
import type { UnitSpec } from '../../src/units/types.js';

export function testSupervisor(runtime: Runtime, dir: string, over: Partial<SupervisorDeps> = {}): Supervisor {
  return new Supervisor({
    runtime,
    logs: new LogStore(dir),
    logger: pino({ level: 'silent' }),
    bootstrapMarkers: { done: async () => false, mark: async () => undefined },
    ...over,
  });
}

/** An image source that always has the image, with this config (default: runs /bin/true). */
export function testImages(config: ImageConfig = { env: [], entrypoint: [], cmd: ['/bin/true'], workingDir: '/', user: '' }): ImageSource {
  return { ensure: async () => ({ config, snapshotParent: '' }), forget: () => undefined };
}

/** The plain context test units are planned in: no SELinux, no allow-list, state under /var/lib/berth-test. */
export function testPlanContext(unit: UnitSpec, over: Partial<PlanContext> = {}): PlanContext {
  return { containerId: unit.name, namespace: 'test', stateDir: '/var/lib/berth-test', apiSocketPath: '/run/berth/api.sock', selinux: { mode: 'off', active: false }, hostPathAllowList: [], ...(unit.class === 'workload' ? { mcs: [1, 2] as [number, number] } : {}), ...over };
}

/** Specs → the supervisor's desired units, each planned in `context` (default testPlanContext). */
export function planned(specs: readonly UnitSpec[], want: (spec: UnitSpec) => 'running' | 'stopped', context: (unit: UnitSpec) => PlanContext = (u) => testPlanContext(u)): DesiredUnit[] {
  return specs.map((spec) => ({ plan: planSpec(spec, context(spec)), want: want(spec) }));
}
