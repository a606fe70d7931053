// Waiting on an AbortSignal without leaving a listener behind. A long-lived signal (an events watch, a
// `logs -f` follower, berthd's own lifetime) outlives thousands of waits; a `{ once: true }` listener added
// for each wait stays on the signal until it aborts, so each one leaked a closure (and Node warned of a
// possible leak after 11). These remove their listener as soon as the wait is over, however it ends.

/** Runs `fn` once when `signal` aborts; returns the function that stops listening. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => undefined;
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * A promise that resolves when `wake` is called or `signal` aborts, whichever is first. `arm` receives
 * the wake function (store it where the producer finds it).
 */
export function wakeOrAbort(signal: AbortSignal | undefined, arm: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = onAbort(signal, () => done());
    function done(): void {
      stop();
      resolve();
    }
    if (signal?.aborted) return done();
    arm(done);
  });
}
