// What the updater keeps across berthd restarts: its stable state, the chosen version and, once staged, the
// verified files. An operation in flight is never persisted: after a crash the updater is back at the last
// stable state (the installer promises a crashed install changed neither the running slot nor the next boot).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.js';
import { updateSchema } from './manifest.js';

export const UPDATE_STATES = ['idle', 'available', 'staged', 'ready'] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** Bottlerocket's update commands (thar-be-updates), as `most_recent_command.cmd_type` names them. */
export const COMMAND_TYPES = ['refresh', 'prepare', 'activate', 'deactivate'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

const commandSchema = z.object({
  cmdType: z.enum(COMMAND_TYPES),
  /** Unknown while it runs (and after a crash in the middle of it). */
  cmdStatus: z.enum(['Success', 'Failed', 'Unknown']),
  timestamp: z.string(),
  exitStatus: z.number().int(),
  stderr: z.string(),
});

/** The last update command and how it ended: what brupop reads to tell a refresh or a prepare succeeded. */
export type CommandResult = z.output<typeof commandSchema>;

const persistedSchema = z.object({
  state: z.enum(UPDATE_STATES),
  chosen: updateSchema.optional(),
  available: z.array(z.string()).default([]),
  staged: z.object({ rootImage: z.string(), kernel: z.string(), initramfs: z.string(), migrations: z.array(z.string()) }).optional(),
  lastError: z.object({ operation: z.string(), message: z.string(), at: z.string() }).optional(),
  mostRecentCommand: commandSchema.optional(),
});

export type PersistedUpdates = z.output<typeof persistedSchema>;

export const stateFile = (dir: string): string => join(dir, 'state.json');

export async function loadUpdatesState(dir: string): Promise<PersistedUpdates> {
  let text: string;
  try {
    text = await readFile(stateFile(dir), 'utf8');
  } catch {
    return { state: 'idle', available: [] };
  }
  const parsed = persistedSchema.safeParse(JSON.parse(text));
  // A state file from another version or a torn disk: start over from idle rather than refuse to start.
  return parsed.success ? parsed.data : { state: 'idle', available: [] };
}

export async function saveUpdatesState(dir: string, s: PersistedUpdates): Promise<void> {
  await writeFileAtomic(stateFile(dir), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}
