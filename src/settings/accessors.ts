// Typed views of the effective settings for the rest of berth (supervisor, spec builder, image puller), so
// they never handle dotted keys or guess at types. Missing keys take the registry's fallback values
// (enabled/superpowered = false, selinux.mode = auto, …).

import { resolveKey } from './keys.js';
import {
  BOOTSTRAP_MODES,
  PULL_POLICIES,
  SELINUX_MODES,
  SETTINGS,
  WORKLOAD_RUNTIMES,
} from './registry.js';
import type { SettingsMap } from './state.js';
import { parseDuration, type SettingValue } from './values.js';
import { parseSize } from '../units/quantities.js';

export type SelinuxMode = (typeof SELINUX_MODES)[number];
export type BootstrapMode = (typeof BOOTSTRAP_MODES)[number];
export type WorkloadRuntime = (typeof WORKLOAD_RUNTIMES)[number];
export type PullPolicy = (typeof PULL_POLICIES)[number];

export interface HostContainerSettings {
  readonly enabled: boolean;
  readonly source: string;
  readonly superpowered: boolean;
  /** Base64 as configured; the consumer decodes it into the container's directory. */
  readonly userData?: string;
}

export interface BootstrapContainerSettings {
  readonly source: string;
  readonly mode: BootstrapMode;
  readonly essential: boolean;
  readonly userData?: string;
}

export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: string;
  readonly auth?: string;
  readonly identityToken?: string;
}

export interface PolicySettings {
  readonly selinuxMode: SelinuxMode;
  readonly containerRegistry: {
    readonly mirrors: ReadonlyMap<string, readonly string[]>;
    readonly credentials: ReadonlyMap<string, RegistryCredentials>;
    readonly insecure: ReadonlyMap<string, boolean>;
    readonly caBundle?: string;
  };
  readonly workloads: {
    readonly runtime: WorkloadRuntime;
    readonly hostPathAllowList: readonly string[];
    readonly allowedCapabilities: readonly string[];
    readonly requireMemoryLimit: boolean;
  };
  readonly images: {
    readonly pullPolicy: PullPolicy;
    /** Bytes; `images.max-unpacked-size`. */
    readonly maxUnpackedSize: number;
    /** images.pull-timeout; optional so hand-built policies (tests, tools) get the default. */
    readonly pullTimeoutMs?: number;
    /** images.pull-stall-timeout. */
    readonly pullStallTimeoutMs?: number;
  };
}

// ---- narrowing: values were validated on the way in, so a mismatch is a programming error --------------

function fallback(pattern: string): SettingValue | undefined {
  return SETTINGS.find((d) => d.pattern === pattern)?.fallback;
}

function bool(value: SettingValue | undefined, pattern: string): boolean {
  const v = value ?? fallback(pattern) ?? false;
  if (typeof v !== 'boolean') throw new Error(`settings: ${pattern} is not a boolean`);
  return v;
}

function str(value: SettingValue | undefined, pattern: string): string | undefined {
  const v = value ?? fallback(pattern);
  if (v !== undefined && typeof v !== 'string') throw new Error(`settings: ${pattern} is not a string`);
  return v;
}

function list(value: SettingValue | undefined, pattern: string): readonly string[] {
  const v = value ?? fallback(pattern) ?? [];
  if (!Array.isArray(v)) throw new Error(`settings: ${pattern} is not a list`);
  return [...(v as readonly string[])];
}

function size(value: SettingValue | undefined, pattern: string): number {
  const parsed = parseSize(str(value, pattern) ?? '');
  if (!parsed.ok) throw new Error(`settings: ${pattern} is not a size`);
  return parsed.value;
}

function duration(value: SettingValue | undefined, pattern: string): number {
  const ms = parseDuration(str(value, pattern) ?? '');
  if (ms === undefined) throw new Error(`settings: ${pattern} is not a duration`);
  return ms;
}

function oneOf<T extends string>(choices: readonly T[], value: SettingValue | undefined, pattern: string): T {
  const v = str(value, pattern);
  const found = choices.find((c) => c === v);
  if (found === undefined) throw new Error(`settings: ${pattern} has no valid value`);
  return found;
}

/** Groups keys of one wildcard family by instance: `host-containers.<name>.enabled` → name → {enabled: …}. */
function instancesOf(effective: SettingsMap, family: string): Map<string, Map<string, SettingValue>> {
  const out = new Map<string, Map<string, SettingValue>>();
  for (const [key, value] of effective) {
    const resolution = resolveKey(key);
    if (!resolution.ok || resolution.value.instance === undefined) continue;
    const { definition, instance } = resolution.value;
    if (definition.pattern !== family && !definition.pattern.startsWith(`${family}.`)) continue;
    let fields = out.get(instance);
    if (!fields) out.set(instance, (fields = new Map()));
    fields.set(definition.pattern.slice(family.length + 1), value);
  }
  return out;
}

export function hostContainersOf(effective: SettingsMap): Map<string, HostContainerSettings> {
  const family = 'host-containers.<name>';
  const out = new Map<string, HostContainerSettings>();
  for (const [name, f] of instancesOf(effective, family)) {
    const source = str(f.get('source'), `${family}.source`);
    // Commit refuses states without a source; skipping is only a guard for hand-edited files.
    if (source === undefined) continue;
    const userData = str(f.get('user-data'), `${family}.user-data`);
    out.set(name, {
      enabled: bool(f.get('enabled'), `${family}.enabled`),
      source,
      superpowered: bool(f.get('superpowered'), `${family}.superpowered`),
      ...(userData !== undefined ? { userData } : {}),
    });
  }
  return out;
}

export function bootstrapContainersOf(effective: SettingsMap): Map<string, BootstrapContainerSettings> {
  const family = 'bootstrap-containers.<name>';
  const out = new Map<string, BootstrapContainerSettings>();
  for (const [name, f] of instancesOf(effective, family)) {
    const source = str(f.get('source'), `${family}.source`);
    if (source === undefined) continue;
    const userData = str(f.get('user-data'), `${family}.user-data`);
    out.set(name, {
      source,
      mode: oneOf(BOOTSTRAP_MODES, f.get('mode'), `${family}.mode`),
      essential: bool(f.get('essential'), `${family}.essential`),
      ...(userData !== undefined ? { userData } : {}),
    });
  }
  return out;
}

export function policyOf(effective: SettingsMap): PolicySettings {
  const mirrors = new Map<string, readonly string[]>();
  for (const [host, f] of instancesOf(effective, 'container-registry.mirrors.<mirror-registry>')) {
    // The mirrors key is the wildcard itself, so the field name is empty.
    mirrors.set(host, list(f.get(''), 'container-registry.mirrors.<mirror-registry>'));
  }
  const insecure = new Map<string, boolean>();
  for (const [host, f] of instancesOf(effective, 'container-registry.insecure.<registry>')) {
    insecure.set(host, bool(f.get(''), 'container-registry.insecure.<registry>'));
  }
  const credentials = new Map<string, RegistryCredentials>();
  const credFamily = 'container-registry.credentials.<registry>';
  for (const [host, f] of instancesOf(effective, credFamily)) {
    const entry: Record<string, string> = {};
    const fields: Array<[string, keyof RegistryCredentials]> = [
      ['username', 'username'],
      ['password', 'password'],
      ['auth', 'auth'],
      ['identitytoken', 'identityToken'],
    ];
    for (const [field, property] of fields) {
      const value = str(f.get(field), `${credFamily}.${field}`);
      if (value !== undefined) entry[property] = value;
    }
    credentials.set(host, entry);
  }
  const caBundle = str(effective.get('container-registry.ca-bundle'), 'container-registry.ca-bundle');
  return {
    selinuxMode: oneOf(SELINUX_MODES, effective.get('selinux.mode'), 'selinux.mode'),
    containerRegistry: { mirrors, credentials, insecure, ...(caBundle !== undefined ? { caBundle } : {}) },
    workloads: {
      runtime: oneOf(WORKLOAD_RUNTIMES, effective.get('workloads.runtime'), 'workloads.runtime'),
      hostPathAllowList: list(effective.get('workloads.host-path-allow-list'), 'workloads.host-path-allow-list'),
      allowedCapabilities: list(effective.get('workloads.allowed-capabilities'), 'workloads.allowed-capabilities'),
      requireMemoryLimit: bool(effective.get('workloads.require-memory-limit'), 'workloads.require-memory-limit'),
    },
    images: {
      pullPolicy: oneOf(PULL_POLICIES, effective.get('images.pull-policy'), 'images.pull-policy'),
      maxUnpackedSize: size(effective.get('images.max-unpacked-size'), 'images.max-unpacked-size'),
      pullTimeoutMs: duration(effective.get('images.pull-timeout'), 'images.pull-timeout'),
      pullStallTimeoutMs: duration(effective.get('images.pull-stall-timeout'), 'images.pull-stall-timeout'),
    },
  };
}
