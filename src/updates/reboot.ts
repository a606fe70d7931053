// `updates.reboot-command`, run: the step after an update is ready (berthctl's and brupop's reboot). A shell
// command line, so a test or a fleet can say what a reboot is (restart a berthd, `systemctl kexec`, …). The
// reboot is one update operation in two halves (Updater.prepareReboot): what the reboot strategy asks for
// (./reboot-gate.ts), then the command. The API answers between the two: the command usually stops berthd,
// and an answer written after it would never reach the caller.
import { spawn } from 'node:child_process';
import { onAbort } from '../util/abort.js';
import { UpdateError } from './errors.js';
import type { RebootGate, RebootPlan, RebootWait } from './reboot-gate.js';

/** How long the command may take to return; `systemctl reboot` only queues the job and returns at once. */
const REBOOT_COMMAND_TIMEOUT_MS = 60_000;
/** stderr kept for the error message. */
const STDERR_MAX = 4096;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Runs `/bin/sh -c command`; resolves when it exits 0, rejects with its exit status and stderr otherwise. */
export function runRebootCommand(command: string, timeoutMs = REBOOT_COMMAND_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < STDERR_MAX) stderr += d.slice(0, STDERR_MAX - stderr.length);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}${signal === 'SIGTERM' ? ` (no exit within ${timeoutMs / 1000} s)` : ''}` : `exited with ${code}`;
      reject(new Error(`${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

/** A reboot the strategy let go: what the caller is told, and the command, still to run. */
export interface RebootStart {
  /** The version the host boots into; undefined: no update is ready. */
  readonly to: string | undefined;
  /** "rebooting into 2.0.0": the answer, given before the command runs. */
  readonly message: string;
  /** Runs updates.reboot-command (once; later calls get the same promise). Rejects with UpdateError 'reboot'. */
  run(): Promise<void>;
}

export function rebootMessage(plan: RebootPlan): string {
  return plan.to !== undefined ? `rebooting into ${plan.to}` : 'rebooting (no update is ready)';
}

/**
 * The gate's refusal as the updater's error, its gRPC code kept: no slot within the wait is RESOURCE_EXHAUSTED
 * ('no-slot'), a strategy without the setting it needs FAILED_PRECONDITION ('config').
 */
export async function askGate(gate: RebootGate | undefined, plan: RebootPlan, wait: RebootWait): Promise<void> {
  try {
    await gate?.beforeReboot(plan, wait);
  } catch (err) {
    if (wait.signal?.aborted || err instanceof UpdateError) throw err;
    const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
    throw new UpdateError(code === 8 ? 'no-slot' : code === 9 ? 'config' : 'reboot', message(err), { cause: err });
  }
}

/** Runs the command; a failure is told to the gate (the host did not go down) and thrown, naming the setting. */
export async function runReboot(command: string, plan: RebootPlan, gate: RebootGate | undefined, run: (command: string) => Promise<void> = runRebootCommand): Promise<void> {
  try {
    await run(command);
  } catch (err) {
    const e = new UpdateError('reboot', `updates.reboot-command (${command}) failed: ${message(err)}`, { cause: err });
    // The gate logs its own trouble; the command's failure is what this reboot reports.
    await gate?.rebootFailed?.(plan, e.message).catch(() => undefined);
    throw e;
  }
}

/** The updater's side of the reboot's update operation (Updater.prepareReboot hands it over). */
export interface RebootOperation {
  /** Aborted by `update cancel`; the wait's own signal aborts it too. */
  readonly controller: AbortController;
  /** Runs `fn` as the operation: its failure becomes the last error, typed. */
  guard(fn: () => Promise<void>): Promise<void>;
  /** The operation is over: the next may begin. */
  end(): void;
}

/**
 * The first half, the gate (refused or cancelled: the operation ends, nothing held); resolves with the answer
 * and the second half, the command, which ends the operation however it goes.
 */
export async function rebootInHalves(op: RebootOperation, plan: RebootPlan, wait: RebootWait, o: { gate: RebootGate | undefined; command: () => string; run?: (command: string) => Promise<void> }): Promise<RebootStart> {
  const stop = onAbort(wait.signal, () => op.controller.abort());
  if (wait.signal?.aborted) op.controller.abort();
  try {
    await op.guard(() => askGate(o.gate, plan, { ...wait, signal: op.controller.signal }));
  } catch (err) {
    op.end();
    throw err;
  } finally {
    stop();
  }
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => op.guard(() => runReboot(o.command(), plan, o.gate, o.run)).finally(() => op.end());
  return { to: plan.to, message: rebootMessage(plan), run: () => (running ??= run()) };
}
