// `updates.reboot-command`, run: the step after an update is ready (berthctl's and brupop's reboot). A shell
// command line, so a test or a fleet can say what a reboot is (restart a berthd, `systemctl kexec`, …).
import { spawn } from 'node:child_process';

/** How long the command may take to return; `systemctl reboot` only queues the job and returns at once. */
const REBOOT_COMMAND_TIMEOUT_MS = 60_000;
/** stderr kept for the error message. */
const STDERR_MAX = 4096;

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
