// Runs the disk tools (veritysetup, losetup, mtools) as child processes: arguments as an array (no shell),
// stdout collected, and on failure an error that names the command and ends with its stderr.
import { spawn } from 'node:child_process';

export class ToolError extends Error {
  override readonly name = 'ToolError';
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (${code === null ? 'killed' : `exit ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`);
  }
}

export interface RunOptions {
  readonly signal?: AbortSignal;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    // mtools: do not refuse a FAT whose geometry does not match a floppy's, and never ask questions.
    const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C' };
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env, ...(opts.signal ? { signal: opts.signal } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' ? new Error(`${cmd} is not installed (needed to update the boot disk)`) : e);
    });
    child.once('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) resolve(stdout);
      else reject(new ToolError(`${cmd} ${args.join(' ')}`, code, Buffer.concat(err).toString('utf8')));
    });
  });
}
