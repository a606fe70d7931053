// The reboot this host asked its fleet for, remembered across the reboot in `<stateDir>/fleet/reboot.json`:
// written once a slot (or a FleetLock lock) is granted, right before updates.reboot-command runs; read by
// the next berthd start, which checks the boot and gives the slot back (healthy) or keeps it and marks the
// host failed. Written atomically (0600), like the settings file.

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../util/atomic-file.js';

const schema = z.object({
  strategy: z.enum(['etcd', 'fleetlock']),
  group: z.string(),
  hostId: z.string(),
  from: z.string(),
  /** Empty: a plain reboot (no update was ready). */
  to: z.string(),
  since: z.string(),
  fleetlockUrl: z.string().optional(),
  /** Set once the boot check failed: the slot stays held until `fleet resume`. */
  failed: z.string().optional(),
});

export type PendingReboot = z.output<typeof schema>;

export function pendingRebootPath(stateDir: string): string {
  return path.join(stateDir, 'fleet', 'reboot.json');
}

/** The pending reboot, or undefined; an unreadable file counts as none (said by the caller's log). */
export async function loadPendingReboot(stateDir: string): Promise<PendingReboot | undefined> {
  const json = await readJsonFile(pendingRebootPath(stateDir)).catch(() => undefined);
  if (json === undefined) return undefined;
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

export async function savePendingReboot(stateDir: string, p: PendingReboot): Promise<void> {
  await mkdir(path.dirname(pendingRebootPath(stateDir)), { recursive: true, mode: 0o700 });
  await writeFileAtomic(pendingRebootPath(stateDir), `${JSON.stringify(p, null, 2)}\n`, { mode: 0o600 });
}

export async function clearPendingReboot(stateDir: string): Promise<void> {
  await rm(pendingRebootPath(stateDir), { force: true });
}
