// The last rollback, kept on the state partition (`<stateDir>/updates/last-rollback.json`) so the version the
// host went back to can say which version it left and why: written by `update rollback` (on demand) and by
// berthd's start when it finds it runs an older version than its settings were shaped for (a fallback).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.js';

const schema = z.object({
  fromVersion: z.string(),
  toVersion: z.string(),
  at: z.string(),
  reason: z.string(),
  /** Migrations run backward (their `down`) for it, by name. */
  migrationsUndone: z.array(z.string()).optional(),
});
export type LastRollback = z.output<typeof schema>;

const file = (stateDir: string): string => join(stateDir, 'updates', 'last-rollback.json');

export async function loadLastRollback(stateDir: string): Promise<LastRollback | undefined> {
  const text = await readFile(file(stateDir), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export async function saveLastRollback(stateDir: string, r: LastRollback): Promise<void> {
  await writeFileAtomic(file(stateDir), `${JSON.stringify(r, null, 2)}\n`, { mode: 0o600 });
}
