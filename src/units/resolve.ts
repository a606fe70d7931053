// Applies defaults and renames keys: UnitFile (as written) → UnitSpec (as run).
// Class-dependent defaults live here and only here.
import type { UnitFile } from './schema.js';
import {
  DEFAULT_HEALTH, DEFAULT_ROLLOUT, DEFAULT_STOP_TIMEOUT_MS, DEFAULT_TMPFS_MODE, DEFAULT_TMPFS_SIZE,
  type BindOption, type RestartPolicy, type TmpfsOption, type UnitClass, type UnitMount, type UnitSpec,
} from './types.js';

export function defaultRestartPolicy(cls: UnitClass): RestartPolicy {
  // Bootstrap units run to completion before host units start; restarting them forever would block boot.
  return cls === 'bootstrap' ? 'never' : 'always';
}

export function effectiveNamespaces(f: Pick<UnitFile, 'class' | 'superpowered' | 'namespaces'>): UnitSpec['namespaces'] {
  const byClass = {
    host: { hostNetwork: true, hostPid: f.superpowered === true },
    bootstrap: { hostNetwork: true, hostPid: true },
    workload: { hostNetwork: false, hostPid: false },
  }[f.class];
  return {
    hostNetwork: f.namespaces?.['host-network'] ?? byClass.hostNetwork,
    hostPid: f.namespaces?.['host-pid'] ?? byClass.hostPid,
  };
}

export function effectivePersistentStorage(f: Pick<UnitFile, 'class' | 'persistent-storage'>): boolean {
  return f['persistent-storage'] ?? f.class !== 'workload';
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function resolveMount(m: NonNullable<UnitFile['mounts']>[number]): UnitMount {
  if (m.type === 'bind') {
    const options: BindOption[] = [...(m.options ?? [])];
    // Explicit defaults: recursive bind, read-only unless `rw` is asked for.
    if (!options.includes('bind') && !options.includes('rbind')) options.unshift('rbind');
    if (!options.includes('ro') && !options.includes('rw')) options.push('ro');
    return { type: 'bind', source: m.source, destination: m.destination, options };
  }
  const options: TmpfsOption[] = [...(m.options ?? [])];
  for (const forced of ['nosuid', 'nodev'] as const) if (!options.includes(forced)) options.push(forced);
  return {
    type: 'tmpfs',
    destination: m.destination,
    sizeBytes: m.size ?? DEFAULT_TMPFS_SIZE,
    mode: m.mode ?? DEFAULT_TMPFS_MODE,
    options,
  };
}

/** Pure; assumes the UnitFile already passed the schema and the cross-field rules. */
export function resolveUnit(f: UnitFile): UnitSpec {
  const unit: UnitSpec = {
    name: f.name,
    class: f.class,
    description: f.description ?? '',
    image: f.image,
    env: Object.fromEntries(Object.entries(f.env ?? {})),
    superpowered: f.superpowered ?? false,
    mounts: (f.mounts ?? []).map(resolveMount),
    persistentStorage: effectivePersistentStorage(f),
    capabilities: {
      add: sortedUnique(f.capabilities?.add ?? []),
      drop: sortedUnique(f.capabilities?.drop ?? []),
    },
    devices: (f.devices ?? []).map((d) => ({ path: d.path, permissions: d.permissions })),
    namespaces: effectiveNamespaces(f),
    resources: {},
    restart: { policy: f.restart?.policy ?? defaultRestartPolicy(f.class) },
    dependsOn: [...(f['depends-on'] ?? [])],
    stop: { timeoutMs: f.stop?.timeout ?? DEFAULT_STOP_TIMEOUT_MS },
  };
  if (f.command !== undefined) unit.command = [...f.command];
  if (f.args !== undefined) unit.args = [...f.args];
  if (f['working-dir'] !== undefined) unit.workingDir = f['working-dir'];
  if (f.user !== undefined) unit.user = { ...f.user };
  if (f['user-data'] !== undefined) unit.userData = f['user-data'];
  if (f.resources?.memory !== undefined) unit.resources.memoryBytes = f.resources.memory;
  if (f.resources?.cpus !== undefined) unit.resources.cpus = f.resources.cpus;
  if (f.resources?.pids !== undefined) unit.resources.pids = f.resources.pids;
  if (f.stop?.signal !== undefined) unit.stop.signal = f.stop.signal;
  if (f.health !== undefined) {
    const intervalMs = f.health.interval ?? DEFAULT_HEALTH.intervalMs;
    unit.health = {
      command: [...f.health.command],
      intervalMs,
      // A default timeout never exceeds the interval the unit chose.
      timeoutMs: f.health.timeout ?? Math.min(DEFAULT_HEALTH.timeoutMs, intervalMs),
      startPeriodMs: f.health['start-period'] ?? DEFAULT_HEALTH.startPeriodMs,
      retries: f.health.retries ?? DEFAULT_HEALTH.retries,
    };
  }
  if (f.rollout !== undefined) {
    unit.rollout = { ...(f.rollout.watch !== undefined ? { watchMs: f.rollout.watch } : {}), guard: f.rollout.guard ?? DEFAULT_ROLLOUT.guard };
  }
  if (f.bootstrap !== undefined) {
    unit.bootstrap = {
      mode: f.bootstrap.mode,
      essential: f.bootstrap.essential ?? false,
      order: f.bootstrap.order ?? 0,
    };
  }
  return unit;
}
