import type { ChaosEnv } from './env.js';
import type { Row } from './lib.js';
export async function diskFull(_env: ChaosEnv): Promise<Row[]> {
  return [];
}
