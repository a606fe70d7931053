// What the fleet part of berthd remembers across restarts, in `<stateDir>/fleet/state.json`:
//   - localKeys: keys set on this host through the API (berthctl set/apply/tx commit), so that a key listed
//     in fleet.local-overrides keeps its local value when a fleet document sets it too. A local unset
//     forgets the key (and every key under an unset prefix): the fleet's value applies again.
//   - fleetKeys: keys the last applied fleet document set, so a later document that drops one removes it.
//   - appliedRevision: etcd revision of that document, so a restart does not re-apply it.
// Written atomically (0600), like the settings file.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../util/atomic-file.js';

export interface FleetLocalState {
  readonly localKeys: ReadonlySet<string>;
  readonly fleetKeys: readonly string[];
  readonly appliedRevision: number;
}

const file = z.object({
  version: z.literal(1),
  localKeys: z.array(z.string()),
  fleetKeys: z.array(z.string()),
  appliedRevision: z.number().int().nonnegative(),
});

export function fleetStatePath(stateDir: string): string {
  return path.join(stateDir, 'fleet', 'state.json');
}

export const EMPTY_STATE: FleetLocalState = { localKeys: new Set(), fleetKeys: [], appliedRevision: 0 };

export async function loadFleetState(stateDir: string): Promise<FleetLocalState> {
  const p = fleetStatePath(stateDir);
  const json = await readJsonFile(p);
  if (json === undefined) return EMPTY_STATE;
  const parsed = file.safeParse(json);
  if (!parsed.success) throw new Error(`${p}: not a berth fleet state file: ${parsed.error.issues[0]?.message ?? ''}`);
  return { localKeys: new Set(parsed.data.localKeys), fleetKeys: parsed.data.fleetKeys, appliedRevision: parsed.data.appliedRevision };
}

export async function saveFleetState(stateDir: string, state: FleetLocalState): Promise<void> {
  const body = { version: 1, localKeys: [...state.localKeys].sort(), fleetKeys: [...state.fleetKeys].sort(), appliedRevision: state.appliedRevision };
  await mkdir(path.dirname(fleetStatePath(stateDir)), { recursive: true, mode: 0o700 });
  await writeFileAtomic(fleetStatePath(stateDir), `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
}

/** localKeys after a local change: keys set are remembered, keys (or prefixes) unset are forgotten. */
export function withLocalChange(localKeys: ReadonlySet<string>, changes: readonly { op: 'set' | 'unset'; key: string }[]): Set<string> {
  const next = new Set(localKeys);
  for (const c of changes) {
    if (c.op === 'set') next.add(c.key);
    else for (const k of [...next]) if (k === c.key || k.startsWith(`${c.key}.`)) next.delete(k);
  }
  return next;
}
