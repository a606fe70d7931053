// The driver's side of the worker processes: fork them, send each a command, wait for its answer. A worker
// that dies or reports an error fails the run (with its message); stopAll() ends every one by PID.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker } from './protocol.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.js');

type Kind = FromWorker['kind'];
type Reply<K extends Kind> = Extract<FromWorker, { kind: K }>;

export class Worker {
  private readonly inbox: FromWorker[] = [];
  private readonly waiting = new Set<() => void>();
  private failure: Error | undefined;

  constructor(readonly index: number, readonly child: ChildProcess) {
    child.on('message', (msg: FromWorker) => {
      if (msg.kind === 'error') this.failure = new Error(`fleet-sim worker ${index}: ${msg.message}`);
      else this.inbox.push(msg);
      this.wake();
    });
    child.on('exit', (code, signal) => {
      this.failure ??= new Error(`fleet-sim worker ${index} (pid ${child.pid}) exited (${signal ?? code})`);
      this.wake();
    });
  }

  static spawn(index: number): Worker {
    // --expose-gc: memory is measured after a collection. Its stdout/stderr go to ours.
    return new Worker(index, fork(WORKER, [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  }

  private wake(): void {
    for (const w of [...this.waiting]) w();
  }

  send(msg: ToWorker): void {
    this.child.send(msg);
  }

  /** The next message of `kind` (earlier ones of other kinds stay queued). */
  next<K extends Kind>(kind: K, timeoutMs: number): Promise<Reply<K>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for worker ${this.index} to report ${kind}`)), timeoutMs);
      const finish = (err?: Error, value?: Reply<K>): void => {
        clearTimeout(timer);
        this.waiting.delete(check);
        if (err) reject(err);
        else resolve(value!);
      };
      const check = (): void => {
        const i = this.inbox.findIndex((m) => m.kind === kind);
        if (i >= 0) return finish(undefined, this.inbox.splice(i, 1)[0] as Reply<K>);
        if (this.failure) finish(this.failure);
      };
      this.waiting.add(check);
      check();
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL by PID (if still running) and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** Each worker's share of `ids`, in contiguous runs. */
export function split<T>(ids: readonly T[], workers: number): T[][] {
  const out: T[][] = [];
  for (let w = 0; w < workers; w++) out.push(ids.slice(Math.floor((w * ids.length) / workers), Math.floor(((w + 1) * ids.length) / workers)));
  return out;
}

/** Ask every worker to stop its hosts (closing their etcd sessions), then end each by PID regardless. */
export async function stopAll(workers: readonly Worker[], timeoutMs: number): Promise<{ count: number; sample: string[] }> {
  const warnings = { count: 0, sample: [] as string[] };
  await Promise.all(workers.map(async (w) => {
    try {
      if (!w.alive) return;
      w.send({ kind: 'stop' });
      const reported = await w.next('warnings', timeoutMs);
      warnings.count += reported.count;
      warnings.sample.push(...reported.sample);
      await w.next('stopped', timeoutMs);
    } catch {
      // Killed below either way.
    } finally {
      await w.kill();
    }
  }));
  return warnings;
}
