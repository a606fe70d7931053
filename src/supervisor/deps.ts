import type { Logger } from 'pino';
import type { UnitSpec } from '../units/types.js';
import type { ImageConfig, SpecContext } from '../ocispec/types.js';
import type { Runtime } from '../runtime/types.js';
import type { BackoffPolicy } from './backoff.js';
import type { LogStore } from './log-store.js';

/** What the daemon wiring hands a Supervisor (kept in its own file so the parts need not import the facade). */
export interface SupervisorDeps {
  runtime: Runtime;
  logs: LogStore;
  logger: Logger;
  /**
   * Makes sure an image is present (import/pull) and returns its config and top snapshot (chain id).
   * `signal` aborts when the unit is stopped, disabled or removed while it waits for the image.
   */
  ensureImage(ref: string, onProgress?: (message: string) => void, signal?: AbortSignal): Promise<{ config: ImageConfig; snapshotParent: string }>;
  /** Forget what ensureImage cached for `ref` (a create found the image gone). */
  forgetImage?(ref: string): void;
  /** Host facts for the spec builder (state dir, API socket, SELinux, …) for one unit. */
  specContext(unit: UnitSpec, image: ImageConfig): SpecContext;
  /** Creates the unit's host dirs and writes its decoded user-data. */
  prepareHostDirs(unit: UnitSpec, hostDirs: string[]): Promise<void>;
  /** Bootstrap bookkeeping: `once` units are remembered forever, `always` ones per boot. */
  bootstrapMarkers: { done(unit: UnitSpec): Promise<boolean>; mark(unit: UnitSpec): Promise<void> };
  backoff?: BackoffPolicy;
  /** Told when the runtime's event stream breaks (berthd restarts a managed containerd). */
  onRuntimeDisconnected?: () => void;
}
