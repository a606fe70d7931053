import type { Runtime } from '../runtime/types.js';
import type { UnitRecord } from './unit-record.js';
import type { ExecRequest, ExecSession } from './types.js';

/** A process in a running unit's container, cleaned up once it exited and its output was read. */
export async function execIn(runtime: Runtime, u: UnitRecord, req: ExecRequest): Promise<ExecSession> {
  if (u.state !== 'running') throw new Error(`unit ${u.name} is not running (state ${u.state})`);
  const h = await runtime.exec(u.containerId, req.args, { tty: req.tty, stdin: true, env: req.env });
  if (req.tty && req.cols && req.rows) await h.resize(req.cols, req.rows).catch(() => undefined);
  // Output may still be in the FIFOs when the process exits: clean up only once both streams ended.
  const ended = (s: NodeJS.ReadableStream | undefined): Promise<void> =>
    s ? new Promise((r) => (s.once('end', () => r()), s.once('close', () => r()), s.once('error', () => r()))) : Promise.resolve();
  const drained = Promise.all([ended(h.stdout), ended(h.stderr)]);
  const exitCode = h.exited.then(async (code) => {
    // A TTY's stream may stay open after the process exits (the shim holds the console): wait briefly.
    await Promise.race([drained, new Promise((r) => setTimeout(r, req.tty ? 300 : 5000).unref())]);
    await h.cleanup().catch(() => undefined);
    return code;
  });
  return { stdin: h.stdin!, stdout: h.stdout, stderr: h.stderr, resize: (c, r) => h.resize(c, r), closeStdin: () => h.closeStdin(), exitCode };
}
