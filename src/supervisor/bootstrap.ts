import type { Logger } from 'pino';
import type { UnitSpec } from '../units/types.js';
import { bootstrapRunOrder } from '../units/index.js';
import type { ExitInfo } from '../runtime/types.js';
import { EssentialBootstrapError } from './errors.js';
import type { Runner } from './runner.js';
import type { UnitRecord } from './unit-record.js';

export interface BootstrapDeps {
  runner: Runner;
  logger: Logger;
  markers: { done(unit: UnitSpec): Promise<boolean>; mark(unit: UnitSpec): Promise<void> };
}

/**
 * Bootstrap units run first, one at a time in their order, each to completion; `once` ones that already
 * ran are skipped. An essential one that fails throws EssentialBootstrapError: host units are not started.
 */
export async function runBootstrapPhase(units: ReadonlyMap<string, UnitRecord>, d: BootstrapDeps): Promise<void> {
  const order = bootstrapRunOrder([...units.values()].map((u) => u.spec));
  for (const spec of order) {
    const u = units.get(spec.name)!;
    if (u.desired !== 'running' || spec.bootstrap?.mode === 'off') continue;
    if (await d.markers.done(spec)) {
      // Exited already: the phase runs again after a bootstrap rollout re-opened the gate (supervisor.ts).
      if (u.state !== 'exited') d.runner.exited(u, `already ran (${spec.bootstrap?.mode})`);
      continue;
    }
    await u.serialize(() => runBootstrapUnit(u, d));
  }
}

/** Run a bootstrap unit to completion; an essential one that fails throws. Runs inside the unit's chain. */
export async function runBootstrapUnit(u: UnitRecord, d: BootstrapDeps): Promise<void> {
  const essential = u.spec.bootstrap?.essential ?? false;
  let exit: ExitInfo;
  try {
    exit = await d.runner.runToCompletion(u);
  } catch (e) {
    u.lastError = e instanceof Error ? e.message : String(e);
    d.runner.fail(u, u.lastError);
    if (essential) throw new EssentialBootstrapError(u.name, u.lastError);
    d.logger.warn({ unit: u.name, err: u.lastError }, 'non-essential bootstrap unit failed; continuing');
    return;
  }
  if (exit.exitCode === 0) {
    await d.markers.mark(u.spec);
    d.runner.exited(u, 'completed (exit 0)');
    return;
  }
  u.lastError = `exited with status ${exit.exitCode}`;
  d.runner.fail(u, u.lastError);
  if (essential) throw new EssentialBootstrapError(u.name, u.lastError);
  d.logger.warn({ unit: u.name, exitCode: exit.exitCode }, 'non-essential bootstrap unit failed; continuing');
}
