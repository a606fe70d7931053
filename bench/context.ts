import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TestContainerd } from '../tests/support/containerd.js';

export const execFileP = promisify(execFile);

export interface BenchOptions {
  iterations: number;
  warmup: number;
  /** One iteration, small sizes: keeps the suite from rotting inside `npm test`. */
  smoke: boolean;
}

export interface BenchContext {
  opts: BenchOptions;
  containerd: TestContainerd;
  /** `ctr` against our private containerd. */
  ctr(namespace: string, ...args: string[]): Promise<string>;
}

export async function makeContext(opts: BenchOptions): Promise<BenchContext> {
  const containerd = await TestContainerd.start();
  return {
    opts,
    containerd,
    async ctr(namespace, ...args) {
      const { stdout } = await execFileP('ctr', ['-a', containerd.socket, '-n', namespace, ...args]);
      return stdout;
    },
  };
}
