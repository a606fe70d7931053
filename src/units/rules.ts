// Rules that span several fields. Each rule is a small pure function over the
// schema-checked file, returning errors at the path the operator must change.
import { WORKLOAD_ADDABLE_CAPS } from './capabilities.js';
import type { UnitError } from './errors.js';
import { formatPath } from './errors.js';
import { isWithin } from './paths.js';
import { effectiveNamespaces, effectivePersistentStorage } from './resolve.js';
import type { UnitFile } from './schema.js';
import { DEFAULT_HEALTH, MIN_MEMORY_BYTES } from './types.js';
import { formatBytes } from './quantities.js';
import { totalBytes, UNIT_TEXT_MAX_BYTES } from './limits.js';

export type UnitRule = (f: UnitFile) => UnitError[];

const err = (path: ReadonlyArray<PropertyKey>, message: string): UnitError => ({ path: formatPath(path), message });

export const superpoweredOnlyForHost: UnitRule = (f) => {
  if (f.superpowered !== true || f.class === 'host') return [];
  return [err(['superpowered'], f.class === 'bootstrap'
    ? 'bootstrap units may not be superpowered (they get a fixed set of extra capabilities instead)'
    : 'workloads may never be superpowered; only host units may')];
};

export const bootstrapTableMatchesClass: UnitRule = (f) => {
  if (f.class === 'bootstrap' && f.bootstrap === undefined) {
    return [err(['bootstrap'], 'is required for class "bootstrap" (at least `mode`)')];
  }
  if (f.class !== 'bootstrap' && f.bootstrap !== undefined) {
    return [err(['bootstrap'], `is only valid for class "bootstrap" (this unit is "${f.class}")`)];
  }
  return [];
};

export const bootstrapRunsToCompletion: UnitRule = (f) => {
  if (f.class !== 'bootstrap') return [];
  const out: UnitError[] = [];
  if (f.restart?.policy === 'always') {
    out.push(err(['restart', 'policy'], 'bootstrap units run to completion; use "never" or "on-failure"'));
  }
  if (f.health !== undefined) {
    out.push(err(['health'], 'bootstrap units run to completion; health checks are for long-running units'));
  }
  return out;
};

export const workloadNamespaces: UnitRule = (f) => {
  if (f.class !== 'workload') return [];
  const out: UnitError[] = [];
  if (f.namespaces?.['host-network'] === true) {
    out.push(err(['namespaces', 'host-network'], 'workloads may not share the host network namespace'));
  }
  if (f.namespaces?.['host-pid'] === true) {
    out.push(err(['namespaces', 'host-pid'], 'workloads may not share the host PID namespace'));
  }
  return out;
};

export const capabilityRules: UnitRule = (f) => {
  const out: UnitError[] = [];
  if (f.capabilities === undefined) return out;
  if (f.superpowered === true && f.class === 'host') {
    return [err(['capabilities'], 'superpowered units get every capability the host allows; remove this table')];
  }
  const add = f.capabilities.add ?? [];
  const drop = f.capabilities.drop ?? [];
  // Sets, not indexOf: every rule stays linear in the list sizes.
  const dropped = new Set(drop);
  const seenAdd = new Set<string>();
  add.forEach((cap, i) => {
    if (f.class === 'workload' && !WORKLOAD_ADDABLE_CAPS.includes(cap)) {
      out.push(err(['capabilities', 'add', i],
        `workloads may not add ${cap}; allowed: ${WORKLOAD_ADDABLE_CAPS.map((c) => c.slice(4)).join(', ')}`));
    }
    if (dropped.has(cap)) out.push(err(['capabilities', 'add', i], `${cap} is both added and dropped`));
    if (seenAdd.has(cap)) out.push(err(['capabilities', 'add', i], `${cap} is listed twice`));
    seenAdd.add(cap);
  });
  const seenDrop = new Set<string>();
  drop.forEach((cap, i) => {
    if (seenDrop.has(cap)) out.push(err(['capabilities', 'drop', i], `${cap} is listed twice`));
    seenDrop.add(cap);
  });
  return out;
};

export const deviceRules: UnitRule = (f) => {
  if (f.devices === undefined || f.devices.length === 0) return [];
  if (f.class === 'workload') return [err(['devices'], 'workloads may not use host devices')];
  if (f.superpowered === true && f.class === 'host') return [err(['devices'], 'superpowered units already get every device; remove this list')];
  const seen = new Map<string, number>();
  const out: UnitError[] = [];
  f.devices.forEach((d, i) => {
    const first = seen.get(d.path);
    if (first !== undefined) out.push(err(['devices', i, 'path'], `${d.path} is already listed at devices[${first}]`));
    else seen.set(d.path, i);
  });
  return out;
};

export const storageRules: UnitRule = (f) => {
  const out: UnitError[] = [];
  const persistent = effectivePersistentStorage(f);
  if (f.class === 'workload' && f['persistent-storage'] === true) {
    out.push(err(['persistent-storage'], 'workloads have no berth-managed storage; declare a bind mount inside the host path allow-list'));
  }
  if (f['user-data'] !== undefined) {
    if (f.class === 'workload') {
      out.push(err(['user-data'], 'only host and bootstrap units receive user-data'));
    } else if (!persistent) {
      out.push(err(['user-data'], 'needs persistent-storage (the decoded file is written into the persistent directory)'));
    }
  }
  return out;
};

const PROPAGATION = new Set(['rshared', 'rslave', 'rprivate', 'shared', 'slave', 'private']);

// Paths berth itself manages inside every container; a unit mount there would shadow them.
const RESERVED_TREES = ['/proc', '/sys', '/dev', '/.berth', '/run/berth'];

export const mountRules: UnitRule = (f) => {
  const out: UnitError[] = [];
  const mounts = f.mounts ?? [];
  const ns = effectiveNamespaces(f);
  const reservedFiles = [
    ...(ns.hostNetwork ? ['/etc/hosts', '/etc/resolv.conf'] : []),
    ...(f.superpowered === true ? ['/lib/modules'] : []),
  ];
  const seen = new Map<string, number>();
  mounts.forEach((m, i) => {
    const dest = m.destination;
    if (dest === '/') out.push(err(['mounts', i, 'destination'], 'must not be "/" (the root filesystem is the image, read-only)'));
    const tree = RESERVED_TREES.find((r) => isWithin(dest, r));
    if (tree !== undefined) out.push(err(['mounts', i, 'destination'], `must not be inside ${tree} (managed by berth)`));
    const file = reservedFiles.find((r) => isWithin(dest, r));
    if (file !== undefined) out.push(err(['mounts', i, 'destination'], `${file} is mounted by berth for this unit`));
    const first = seen.get(dest);
    if (first !== undefined) out.push(err(['mounts', i, 'destination'], `is already used by mounts[${first}]`));
    else seen.set(dest, i);

    const options: readonly string[] = m.options ?? [];
    const set = new Set(options);
    if (set.size !== options.length) {
      const seenOption = new Set<string>();
      const dup = options.find((o) => (seenOption.has(o) ? true : (seenOption.add(o), false)));
      out.push(err(['mounts', i, 'options'], `"${dup ?? ''}" is listed twice`));
    }
    if (set.has('ro') && set.has('rw')) out.push(err(['mounts', i, 'options'], '"ro" and "rw" contradict each other'));
    if (set.has('bind') && set.has('rbind')) out.push(err(['mounts', i, 'options'], 'use either "bind" or "rbind"'));
    const propagation = [...set].filter((o) => PROPAGATION.has(o));
    if (propagation.length > 1) out.push(err(['mounts', i, 'options'], `at most one propagation option (got ${propagation.join(', ')})`));
  });
  return out;
};

export const dependencyRules: UnitRule = (f) => {
  const deps = f['depends-on'] ?? [];
  const out: UnitError[] = [];
  const seen = new Set<string>();
  deps.forEach((d, i) => {
    if (d === f.name) out.push(err(['depends-on', i], 'a unit may not depend on itself'));
    else if (seen.has(d)) out.push(err(['depends-on', i], `"${d}" is listed twice`));
    seen.add(d);
  });
  return out;
};

/** The per-field limits (limits.ts) together would allow ~6 MiB of text; one unit gets at most 2 MiB. */
export const sizeRules: UnitRule = (f) => {
  let total = totalBytes(f.command ?? []) + totalBytes(f.args ?? []) + totalBytes(f.health?.command ?? []);
  for (const [k, v] of Object.entries(f.env ?? {})) total += k.length + 1 + Buffer.byteLength(v, 'utf8');
  for (const m of f.mounts ?? []) total += totalBytes(m.type === 'bind' ? [m.source, m.destination] : [m.destination]);
  return total > UNIT_TEXT_MAX_BYTES
    ? [err([], `command, args, env, mounts and health.command total ${total} bytes, at most ${UNIT_TEXT_MAX_BYTES}`)]
    : [];
};

export const resourceRules: UnitRule = (f) => {
  const memory = f.resources?.memory;
  if (memory !== undefined && memory < MIN_MEMORY_BYTES) {
    // Below this runc's own setup is killed by the OOM killer before the process starts.
    return [err(['resources', 'memory'], `must be at least ${formatBytes(MIN_MEMORY_BYTES)} (got ${memory} bytes)`)];
  }
  return [];
};

export const healthRules: UnitRule = (f) => {
  const h = f.health;
  if (h?.timeout === undefined) return [];
  const interval = h.interval ?? DEFAULT_HEALTH.intervalMs;
  return h.timeout > interval
    ? [err(['health', 'timeout'], `must not exceed health.interval (${interval}ms)`)]
    : [];
};

export const UNIT_RULES: readonly UnitRule[] = [
  superpoweredOnlyForHost, bootstrapTableMatchesClass, bootstrapRunsToCompletion, workloadNamespaces,
  capabilityRules, deviceRules, storageRules, mountRules, dependencyRules, resourceRules, healthRules, sizeRules,
];

export function checkRules(f: UnitFile): UnitError[] {
  return UNIT_RULES.flatMap((rule) => rule(f));
}
