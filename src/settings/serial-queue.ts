// Runs async tasks one at a time, in call order. Commits go through one queue so that two concurrent `set`
// calls can never both read generation N and both write N+1 (a lost update).

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // A failed task must not block the ones queued behind it.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
