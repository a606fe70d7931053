// The boot check's plan from berthd's effective settings: updates.health-checks and updates.health-timeout
// read through the settings schema (its defaults and types: one source of truth), the essential bootstrap
// units from bootstrap-containers.*. The schema is loaded only here (berthctl's other commands skip zod).
import type { BerthClient } from './client.js';
import type { BootCheckPlan } from './boot-check.js';
import type { SettingValue } from '../settings/index.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `{a: {b: 1}}` → [['a.b', 1]]; settings trees are a few levels deep. */
function flatten(tree: unknown, base: string, out: Map<string, unknown>): Map<string, unknown> {
  if (!isRecord(tree)) return out.set(base, tree);
  for (const [k, v] of Object.entries(tree)) flatten(v, base === '' ? k : `${base}.${k}`, out);
  return out;
}

/** Bootstrap units whose failure fails the boot: essential, and set to run (mode once or always). */
export function essentialBootstrap(tree: unknown): string[] {
  const all = isRecord(tree) ? tree['bootstrap-containers'] : undefined;
  if (!isRecord(all)) return [];
  return Object.entries(all)
    .filter(([, b]) => isRecord(b) && b['essential'] === true && (b['mode'] === 'once' || b['mode'] === 'always'))
    .map(([name]) => name)
    .sort();
}

export async function readBootCheckSettings(client: BerthClient): Promise<{ plan: BootCheckPlan; timeoutMs: number }> {
  const [updatesTree, bootstrapTree] = await Promise.all([
    client.settings.get('updates', { timeoutMs: 10_000 }),
    client.settings.get('bootstrap-containers', { timeoutMs: 10_000 }),
  ]);
  const { readFamily, updatesFamily } = await import('../settings/index.js');
  // Values as berthd stored them (validated on the way in); the schema types them and fills in the defaults.
  const effective = flatten(updatesTree, '', new Map()) as Map<string, SettingValue>;
  const u = readFamily(effective, updatesFamily);
  return { plan: { essential: essentialBootstrap(bootstrapTree), healthChecks: u.healthChecks }, timeoutMs: u.healthTimeout };
}
