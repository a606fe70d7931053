// One operation shared by several waiters (units starting from the same image share one pull), where each
// waiter may give up on its own: its promise rejects at once, and the operation itself is cancelled only
// when no waiter is left — a stopped unit must not break the pull another unit is waiting for.

export interface SharedTaskContext {
  /** Aborted when every waiter has given up. */
  readonly signal: AbortSignal;
  /** Progress for every current waiter. */
  readonly progress: (message: string) => void;
}

interface Entry<T> {
  readonly promise: Promise<T>;
  readonly controller: AbortController;
  readonly listeners: Set<(message: string) => void>;
  waiters: number;
  settled: boolean;
}

export function cancelledError(what: string, reason: unknown): Error {
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return Object.assign(new Error(`${what} cancelled`), { name: 'AbortError', code: 'ABORT_ERR' });
}

export class SharedTasks<T> {
  private readonly inflight = new Map<string, Entry<T>>();

  /**
   * Join the operation running for `key`, or start it with `start`. `what` names it in the cancellation
   * error (`pull of REF cancelled`).
   */
  run(key: string, what: string, start: (ctx: SharedTaskContext) => Promise<T>, onProgress?: (message: string) => void, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(cancelledError(what, signal.reason));
    let entry = this.inflight.get(key);
    if (!entry) {
      const controller = new AbortController();
      const listeners = new Set<(message: string) => void>();
      const created: Entry<T> = {
        promise: Promise.resolve()
          .then(() => start({ signal: controller.signal, progress: (m) => listeners.forEach((l) => l(m)) }))
          .finally(() => {
            created.settled = true;
            if (this.inflight.get(key) === created) this.inflight.delete(key);
          }),
        controller,
        listeners,
        waiters: 0,
        settled: false,
      };
      this.inflight.set(key, created);
      entry = created;
    }
    const e = entry;
    e.waiters++;
    if (onProgress) e.listeners.add(onProgress);
    return new Promise<T>((resolve, reject) => {
      let left = false;
      const leave = (): void => {
        if (left) return;
        left = true;
        signal?.removeEventListener('abort', onAbort);
        if (onProgress) e.listeners.delete(onProgress);
        if (--e.waiters > 0 || e.settled) return;
        // Nobody waits any more: cancel, and let the next caller start afresh rather than join a cancelled run.
        if (this.inflight.get(key) === e) this.inflight.delete(key);
        e.controller.abort(signal?.reason);
      };
      const onAbort = (): void => {
        leave();
        reject(cancelledError(what, signal?.reason));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      e.promise.then(
        (r) => (leave(), resolve(r)),
        (err: unknown) => (leave(), reject(err)),
      );
    });
  }
}
