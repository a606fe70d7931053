import type { Logger } from 'pino';
import { LABELS, type Runtime } from '../runtime/types.js';
import type { Runner } from './runner.js';
import type { UnitRecord } from './unit-record.js';

/**
 * At start-up, before anything is launched: re-adopt running tasks whose spec hash matches a unit that is
 * wanted running; remove every other berth container (nothing orphaned, nothing duplicated).
 */
export async function adoptRunning(runtime: Runtime, units: ReadonlyMap<string, UnitRecord>, runner: Runner, logger: Logger): Promise<void> {
  const containers = await runtime.listManaged();
  await Promise.all(containers.map(async (c) => {
    const u = units.get(c.labels[LABELS.unit] ?? '');
    const adoptable = u && u.spec.class !== 'bootstrap' && u.desired === 'running' && c.id === u.containerId && c.task?.status === 'running' && c.labels[LABELS.specHash] === u.hash;
    if (!adoptable || !u) {
      logger.info({ container: c.id, unit: u?.name }, u ? 'replacing container (spec changed, stopped or not wanted)' : 'removing container no unit claims');
      await runtime.remove(c.id);
      return;
    }
    const task = await runtime.adopt(c.id, u.name);
    runner.adopt(u, task, {
      processLabel: c.labels[LABELS.selinuxProcess] ?? '',
      mountLabel: c.labels[LABELS.selinuxMount] ?? '',
      applied: c.labels[LABELS.selinuxApplied] === 'true',
      reason: 'adopted',
    }, c.labels[LABELS.imageDigest]);
  }));
}
