type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * Start-up leaves garbage behind: module sources, proto definitions, every unit's spec build and the gRPC
 * traffic of the start storm. V8 hands such pages back to the OS only from its idle-time memory reducer,
 * which only a major collection arms, and a settled, event-driven supervisor may never allocate enough to
 * cause one: berthd would idle at its start-up peak forever (≈9 MB more with 50 units). So once the first
 * reconcile has settled, one memory-reducing collection. It needs `--expose-gc`, which bin/berthd passes;
 * without it this does nothing.
 */
export function compactAfterStartup(delayMs = 500): void {
  const gc = (globalThis as { gc?: GcFunction }).gc;
  if (typeof gc !== 'function') return;
  setTimeout(() => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }), delayMs).unref();
}
