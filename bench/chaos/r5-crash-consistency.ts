import type { ChaosEnv } from './env.js';
import type { Row } from './lib.js';
export async function r5CrashConsistency(_env: ChaosEnv): Promise<Row[]> {
  return [];
}
