// What the fleet.* settings mean for this host: in a fleet or not, where etcd is, who we are there. Pure
// apart from reading /etc/machine-id, which callers do through `machineId`.

import { readFileSync } from 'node:fs';
import { fleetNameProblem, type FleetSettings } from '../settings/index.js';

export interface EtcdTls {
  /** PEM file paths (fleet.etcd.ca / cert / key). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface FleetConfig {
  readonly endpoints: readonly string[];
  readonly tls: EtcdTls | undefined;
  readonly group: string;
  readonly hostId: string;
}

export type FleetConfigResult =
  | { readonly kind: 'off' }
  | { readonly kind: 'on'; readonly config: FleetConfig }
  | { readonly kind: 'error'; readonly key: string; readonly message: string };

/** /etc/machine-id's content (the default host id); undefined when absent or unreadable. */
export function readMachineId(file = '/etc/machine-id'): string | undefined {
  try {
    const id = readFileSync(file, 'utf8').trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}

/**
 * A host is in a fleet when it has endpoints and a group. TLS needs all three files (the settings store
 * already refuses https endpoints without them, and plain http to anything but loopback).
 */
export function fleetConfigOf(settings: Omit<FleetSettings, 'maxConcurrentReboots'>, machineId: () => string | undefined): FleetConfigResult {
  const { endpoints, ca, cert, key } = settings.etcd;
  if (endpoints.length === 0 || settings.group === undefined) return { kind: 'off' };
  const hostId = settings.hostId ?? machineId();
  if (hostId === undefined) return { kind: 'error', key: 'fleet.host-id', message: 'not set and /etc/machine-id is missing or empty' };
  const problem = fleetNameProblem(hostId);
  if (problem !== undefined) return { kind: 'error', key: 'fleet.host-id', message: `the machine id ${JSON.stringify(hostId)} is not usable: ${problem}; set fleet.host-id` };
  const secure = endpoints.some((e) => e.startsWith('https:'));
  const tls = secure && ca !== undefined && cert !== undefined && key !== undefined ? { ca, cert, key } : undefined;
  if (secure && tls === undefined) return { kind: 'error', key: 'fleet.etcd.ca', message: 'https endpoints need fleet.etcd.ca, fleet.etcd.cert and fleet.etcd.key' };
  return { kind: 'on', config: { endpoints: [...endpoints], tls, group: settings.group, hostId } };
}

export function sameConfig(a: FleetConfig | undefined, b: FleetConfig | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

// ---- etcd keys -----------------------------------------------------------------------------------------

export function groupPrefix(group: string): string {
  return `/berth/${group}/`;
}

export function hostsPrefix(group: string): string {
  return `${groupPrefix(group)}hosts/`;
}

export function hostKey(group: string, hostId: string): string {
  return `${hostsPrefix(group)}${hostId}`;
}

export function settingsKey(group: string): string {
  return `${groupPrefix(group)}settings`;
}
