import type { ChaosEnv } from './env.js';
import type { Row } from './lib.js';
export async function r4Fuzz(_env: ChaosEnv): Promise<Row[]> {
  return [];
}
