import type { RestartPolicy } from '../units/types.js';

/** Whether an exit should be followed by a restart. A stop the user asked for is never restarted. */
export function shouldRestart(policy: RestartPolicy, exitCode: number, stoppedOnRequest: boolean): boolean {
  if (stoppedOnRequest) return false;
  if (policy === 'always') return true;
  if (policy === 'on-failure') return exitCode !== 0;
  return false;
}
