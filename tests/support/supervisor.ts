// A Supervisor over a fake runtime, for unit tests of its logic: silent logger, an image that runs
// /bin/true, a plain spec context under `dir`, no host dirs, no bootstrap markers. Tests override what they
// exercise.
import { pino } from 'pino';
import { Supervisor, type SupervisorDeps } from '../../src/supervisor/supervisor.js';
import { LogStore } from '../../src/supervisor/log-store.js';
import type { Runtime } from '../../src/runtime/types.js';

export function testSupervisor(runtime: Runtime, dir: string, over: Partial<SupervisorDeps> = {}): Supervisor {
  return new Supervisor({
    runtime,
    logs: new LogStore(dir),
    logger: pino({ level: 'silent' }),
    ensureImage: async () => ({ config: { env: [], entrypoint: [], cmd: ['/bin/true'], workingDir: '/', user: '' }, snapshotParent: '' }),
    specContext: (unit, image) => ({ containerId: unit.name, namespace: 'test', stateDir: dir, apiSocketPath: '/run/berth/api.sock', selinux: { mode: 'off', active: false }, hostPathAllowList: [], imageConfig: image }),
    prepareHostDirs: async () => undefined,
    bootstrapMarkers: { done: async () => false, mark: async () => undefined },
    ...over,
  });
}
