import type { Logger } from 'pino';
import type { UnitSpec } from '../units/types.js';
import type { Runtime } from '../runtime/types.js';
import type { BackoffPolicy } from './backoff.js';
import type { LogStore } from './log-store.js';

/**
 * What the daemon wiring hands a Supervisor (kept in its own file so the parts need not import the facade).
 * Specs arrive planned (DesiredUnit) and images come from the runtime: no callback into the wiring sits on
 * the launch path.
 */
export interface SupervisorDeps {
  runtime: Runtime;
  logs: LogStore;
  logger: Logger;
  /** Bootstrap bookkeeping: `once` units are remembered forever, `always` ones per boot. */
  bootstrapMarkers: { done(unit: UnitSpec): Promise<boolean>; mark(unit: UnitSpec): Promise<void> };
  backoff?: BackoffPolicy;
  /** Where rollouts are persisted (`<state dir>/rollouts`); absent: kept in memory only. */
  rolloutDir?: string;
  /** Told when the runtime's event stream breaks (berthd restarts a managed containerd). */
  onRuntimeDisconnected?: () => void;
}
