// A host's record in etcd, `/berth/<group>/hosts/<host-id>`: JSON, written by the host under its lease and
// read by `fleet status`. Others' records are data from the network: decoded leniently, never trusted.

import { z } from 'zod';

export interface HealthSummary {
  /** Units berthd knows of. */
  readonly units: number;
  readonly running: number;
  /** Units in `failed` (gave up or cannot start). */
  readonly failed: number;
}

export interface HostRecord {
  readonly hostId: string;
  /** berth's version on the host. */
  readonly version: string;
  /** The host updater's state; `idle` until host updates drive it. */
  readonly updateState: string;
  readonly health: HealthSummary;
  /** The reboot slot held (reboot coordination); empty: none. */
  readonly slot: string;
  /** etcd revision of the fleet settings document this host applied last; 0: none yet. */
  readonly settingsRevision: number;
  /** The last error to report (a refused fleet settings document names its key); empty: none. */
  readonly lastError: string;
  /** ISO-8601 time the host wrote this record (on every change, and at least every heartbeat). */
  readonly lastSeen: string;
}

const health = z.object({ units: z.number().int().nonnegative(), running: z.number().int().nonnegative(), failed: z.number().int().nonnegative() });

const recordSchema = z.object({
  hostId: z.string().max(256),
  version: z.string().max(256).catch(''),
  updateState: z.string().max(64).catch(''),
  health: health.catch({ units: 0, running: 0, failed: 0 }),
  slot: z.string().max(256).catch(''),
  settingsRevision: z.number().int().nonnegative().catch(0),
  lastError: z.string().max(4096).catch(''),
  lastSeen: z.string().max(64).catch(''),
});

export function encodeRecord(record: HostRecord): string {
  return JSON.stringify(record);
}

/** A record as read from etcd; a malformed one still lists the host, with the problem as its error. */
export function decodeRecord(hostId: string, text: string): HostRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = recordSchema.safeParse(json);
  if (parsed.success) return { ...parsed.data, hostId };
  return {
    hostId, version: '', updateState: '', health: { units: 0, running: 0, failed: 0 }, slot: '', settingsRevision: 0,
    lastError: 'unreadable host record in etcd', lastSeen: '',
  };
}

/** `2/3 running, 1 failed`. */
export function healthText(h: HealthSummary): string {
  return `${h.running}/${h.units} running${h.failed > 0 ? `, ${h.failed} failed` : ''}`;
}
