import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/**
 * Node has no mkfifo(3), and spawning `mkfifo` per task costs milliseconds (and a blocking spawn would stall
 * the event loop). The pool makes FIFOs in batches, off the hot path, in a directory on the same filesystem
 * as the task FIFO dirs; taking one is a rename(2).
 */
export class FifoPool {
  private ready: string[] = [];
  private refill: Promise<void> | undefined;
  private seq = 0;

  constructor(private readonly dir: string, private readonly batch = 128) {}

  private async fill(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (this.seq === 0) {
      // FIFOs left by an earlier berthd are reusable.
      for (const f of await readdir(this.dir)) this.ready.push(path.join(this.dir, f));
      this.seq = 1;
    }
    const names = Array.from({ length: this.batch }, () => path.join(this.dir, `f${process.pid}-${this.seq++}`));
    await execFileP('mkfifo', ['-m', '0600', ...names]);
    this.ready.push(...names);
  }

  /** Create FIFOs at `targets` (replacing whatever is there). */
  async take(targets: string[]): Promise<void> {
    // Check and take with no await in between, so concurrent callers never share a FIFO.
    while (this.ready.length < targets.length) {
      this.refill ??= this.fill().finally(() => (this.refill = undefined));
      await this.refill;
    }
    const fifos = this.ready.splice(0, targets.length);
    await Promise.all(targets.map(async (t, i) => {
      await rm(t, { force: true });
      await rename(fifos[i]!, t);
    }));
    // Keep a stock ahead of demand, in the background.
    if (this.ready.length < this.batch / 4 && !this.refill) this.refill = this.fill().catch(() => undefined).finally(() => (this.refill = undefined));
  }
}
