// The fleet member wired into berthd: its view of the units' health, the Fleet API, and the settings API
// wrapped so that changes made on this host are checked against, and recorded for, the fleet's document
// (src/fleet/fleet-document.ts explains the precedence).
import { readFileSync } from 'node:fs';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import {
  FleetMember, FleetValidationError, RebootCoordinator, readMachineId, holdRollout, readGroup, resumeRollout, startRollout, type FleetLog, type GroupView, type HealthSummary,
} from '../fleet/index.js';
import type { FleetApi, SettingsApi } from '../api/services.js';
import { checkChanges, parseDocument, type ChangeMap, type SettingsStore, type StagedChange } from '../settings/index.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { parseJsonBounded } from '../util/depth.js';

export function unitHealth(supervisor: Supervisor): HealthSummary {
  const units = supervisor.list();
  return { units: units.length, running: units.filter((u) => u.state === 'running').length, failed: units.filter((u) => u.state === 'failed').length };
}

/** BERTH_FLEET_MACHINE_ID_FILE: tests run several berthds on one machine; fleet.host-id is the operator's way. */
function machineIdSource(): (() => string | undefined) | undefined {
  const file = process.env['BERTH_FLEET_MACHINE_ID_FILE'];
  return file ? () => readMachineIdFrom(file) : undefined;
}

/** updates.reboot-strategy's gate for the updater, and the boot check after a coordinated reboot. */
export function createRebootCoordinator(opts: { store: SettingsStore; stateDir: string; supervisor: Supervisor; member: FleetMember; logger: Logger }): RebootCoordinator {
  return new RebootCoordinator({
    store: opts.store,
    stateDir: opts.stateDir,
    fleet: opts.member,
    health: () => unitHealth(opts.supervisor),
    log: { info: (o, m) => opts.logger.info(o, m), warn: (o, m) => opts.logger.warn(o, m) },
    machineId: machineIdSource() ?? (() => readMachineId()),
  });
}

export function createFleetMember(opts: { store: SettingsStore; stateDir: string; version: string; supervisor: Supervisor; logger: Logger }): FleetMember {
  const log: FleetLog = { info: (o, m) => opts.logger.info(o, m), warn: (o, m) => opts.logger.warn(o, m) };
  const machineId = machineIdSource();
  return new FleetMember({
    store: opts.store,
    stateDir: opts.stateDir,
    version: opts.version,
    health: () => unitHealth(opts.supervisor),
    log,
    ...(machineId ? { machineId } : {}),
  });
}

function readMachineIdFrom(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

type FleetRolloutInfo = Awaited<ReturnType<FleetApi['status']>>['rollout'];

function rolloutInfo(v: GroupView): FleetRolloutInfo {
  return {
    targetVersion: v.update?.version ?? '', maxConcurrent: v.update?.maxConcurrent ?? 0, held: v.update?.held ?? false,
    slotHolders: [...v.sem.holders], failed: v.sem.failed.map((f) => ({ hostId: f.host, reason: f.reason })),
  };
}

/** The version a rollout targets: an exact version, as updates.version-lock takes it. */
const VERSION = /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/;
export const MAX_CONCURRENT_LIMIT = 1000;

export function fleetApi(member: FleetMember): FleetApi {
  const rollout = async (group: string, fn: (client: Etcd3, g: string) => Promise<unknown>): Promise<{ group: string; rollout: FleetRolloutInfo }> => {
    const r = await member.withGroup(group, async (client, g) => {
      await fn(client, g);
      return readGroup(client, g);
    });
    return { group: r.group, rollout: rolloutInfo(r.value) };
  };
  return {
    status: async (group) => {
      const r = await member.withGroup(group, async (client, g) => ({ hosts: await member.hosts(g), view: await readGroup(client, g) }));
      return { group: r.group, hosts: r.value.hosts.map((h) => ({ ...h, health: { ...h.health } })), rollout: rolloutInfo(r.value.view) };
    },
    update: async (group, version, maxConcurrent) => {
      if (!VERSION.test(version)) throw new FleetValidationError('version', `${JSON.stringify(version)}: expected a version MAJOR.MINOR.PATCH (e.g. 1.4.0)`);
      if (!Number.isInteger(maxConcurrent) || maxConcurrent < 0 || maxConcurrent > MAX_CONCURRENT_LIMIT) {
        throw new FleetValidationError('max-concurrent', `${maxConcurrent}: expected a whole number from 1 to ${MAX_CONCURRENT_LIMIT} (0: each host's fleet.max-concurrent-reboots)`);
      }
      return rollout(group, (client, g) => startRollout(client, g, version, maxConcurrent));
    },
    hold: (group) => rollout(group, (client, g) => holdRollout(client, g)),
    resume: (group) => rollout(group, (client, g) => resumeRollout(client, g)),
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
