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

/** The part of a boot check's record (`berthctl update boot-check`, src/cli/boot-check.ts) a fallback reports. */
const bootCheckRecord = z.object({
  passed: z.boolean(),
  endedAt: z.string().optional(),
  failed: z.array(z.object({ check: z.string(), detail: z.string() })),
});

/**
 * Why `version` failed its boot, from its boot check's record on the state partition
 * (`<stateDir>/boot-check/<version>.json`, berth-boot-check.service's default on a host): the deciding check
 * and its detail. Undefined when there is no readable record of a failed check (the kernel never reached
 * userspace, or the boot was not assessed).
 */
export async function bootCheckFailure(stateDir: string, version: string): Promise<string | undefined> {
  if (!/^[0-9A-Za-z][0-9A-Za-z._~^+-]{0,127}$/.test(version) || version.includes('..')) return undefined;
  const text = await readFile(join(stateDir, 'boot-check', `${version}.json`), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const r = bootCheckRecord.safeParse(JSON.parse(text));
    if (!r.success || r.data.passed || r.data.failed.length === 0) return undefined;
    const [first, ...rest] = r.data.failed;
    const more = rest.length > 0 ? ` (and ${rest.map((f) => f.check).join(', ')})` : '';
    return `its boot check failed${r.data.endedAt ? ` at ${r.data.endedAt}` : ''}: ${first!.check}: ${first!.detail}${more}`;
  } catch {
    return undefined;
  }
}
