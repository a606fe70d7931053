// The fleet member wired into berthd: its view of the units' health, the Fleet API, and the settings API
// wrapped so that changes made on this host are checked against, and recorded for, the fleet's document
// (src/fleet/fleet-document.ts explains the precedence).
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { FleetMember, type FleetLog, type HealthSummary } from '../fleet/index.js';
import type { FleetApi, SettingsApi } from '../api/services.js';
import { checkChanges, parseDocument, type ChangeMap, type SettingsStore, type StagedChange } from '../settings/index.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { parseJsonBounded } from '../util/depth.js';

export function unitHealth(supervisor: Supervisor): HealthSummary {
  const units = supervisor.list();
  return { units: units.length, running: units.filter((u) => u.state === 'running').length, failed: units.filter((u) => u.state === 'failed').length };
}

export function createFleetMember(opts: { store: SettingsStore; stateDir: string; version: string; supervisor: Supervisor; logger: Logger }): FleetMember {
  const log: FleetLog = { info: (o, m) => opts.logger.info(o, m), warn: (o, m) => opts.logger.warn(o, m) };
  // BERTH_FLEET_MACHINE_ID_FILE: tests run several berthds on one machine; fleet.host-id is the operator's way.
  const machineIdFile = process.env['BERTH_FLEET_MACHINE_ID_FILE'];
  return new FleetMember({
    store: opts.store,
    stateDir: opts.stateDir,
    version: opts.version,
    health: () => unitHealth(opts.supervisor),
    log,
    ...(machineIdFile ? { machineId: () => readMachineIdFrom(machineIdFile) } : {}),
  });
}

function readMachineIdFrom(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function fleetApi(member: FleetMember): FleetApi {
  return {
    status: async (group) => {
      const hosts = await member.hosts(group);
      return { group: group || (member.group ?? ''), hosts: hosts.map((h) => ({ ...h, health: { ...h.health } })) };
    },
  };
}

/** The canonical changes a request makes, or undefined when it is malformed (the store then says why). */
function staged(changes: () => ChangeMap): StagedChange[] | undefined {
  try {
    const checked = checkChanges(changes(), []);
    return checked.ok ? checked.value : undefined;
  } catch {
    return undefined;
  }
}

function jsonBody(json: string): ChangeMap {
  const parsed = parseJsonBounded(json) as Record<string, unknown>;
  return (parsed['settings'] ?? parsed) as ChangeMap;
}

export function fleetAwareSettingsApi(inner: SettingsApi, store: SettingsStore, member: FleetMember): SettingsApi {
  const guarded = async <T>(changes: StagedChange[] | undefined, op: () => Promise<T>): Promise<T> => {
    const refused = changes && member.checkLocal(changes);
    if (refused) throw refused;
    const result = await op();
    if (changes) await member.recordLocal(changes);
    return result;
  };
  return {
    ...inner,
    set: (values) => guarded(staged(() => values), () => inner.set(values)),
    setJson: (json) => guarded(staged(() => jsonBody(json)), () => inner.setJson(json)),
    apply: (document, format) => guarded(staged(() => parseDocument(document, format)), () => inner.apply(document, format)),
    commit: (tx) => guarded([...store.pending(tx)], () => inner.commit(tx)),
  };
}
