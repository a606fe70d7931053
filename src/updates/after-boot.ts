// At berthd's start: an update that was staged or ready for the version now running has been taken (the
// host rebooted into it), so the updater starts from idle rather than offering to apply what already runs.
// The download is removed with it; the most recent command and last error stay for the record.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadUpdatesState, saveUpdatesState } from './state-file.js';

/** Returns true when the persisted update was the running version and was settled to idle. */
export async function settleTakenUpdate(dir: string, runningVersion: string): Promise<boolean> {
  const s = await loadUpdatesState(dir);
  if (s.state === 'idle' || s.chosen?.version !== runningVersion) return false;
  await saveUpdatesState(dir, {
    state: 'idle', available: [],
    ...(s.mostRecentCommand ? { mostRecentCommand: s.mostRecentCommand } : {}),
    ...(s.lastError ? { lastError: s.lastError } : {}),
  });
  await rm(join(dir, 'download'), { recursive: true, force: true });
  return true;
}
