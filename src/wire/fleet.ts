// berth.v1.Fleet messages ↔ FleetHostInfo, both directions (server and client).

export interface FleetHostInfo {
  hostId: string;
  version: string;
  updateState: string;
  health: { units: number; running: number; failed: number };
  slot: string;
  settingsRevision: number;
  lastSeen: string;
  lastError: string;
}

export interface FleetRolloutInfo {
  /** Empty: no rollout was started in the group. */
  targetVersion: string;
  /** 0: each host's fleet.max-concurrent-reboots. */
  maxConcurrent: number;
  held: boolean;
  slotHolders: string[];
  failed: { hostId: string; reason: string }[];
}

export interface FleetStatus {
  group: string;
  hosts: FleetHostInfo[];
  rollout: FleetRolloutInfo;
}

export interface WireFleetRollout {
  target_version: string;
  max_concurrent: number;
  held: boolean;
  slot_holders?: string[];
  failed?: { host_id?: string; reason?: string }[];
}

export function fleetRolloutToWire(r: FleetRolloutInfo): WireFleetRollout {
  return {
    target_version: r.targetVersion, max_concurrent: r.maxConcurrent, held: r.held, slot_holders: [...r.slotHolders],
    failed: r.failed.map((f) => ({ host_id: f.hostId, reason: f.reason })),
  };
}

export function fleetRolloutFromWire(w: WireFleetRollout | null | undefined): FleetRolloutInfo {
  return {
    targetVersion: w?.target_version ?? '', maxConcurrent: w?.max_concurrent ?? 0, held: w?.held ?? false,
    slotHolders: [...(w?.slot_holders ?? [])], failed: (w?.failed ?? []).map((f) => ({ hostId: f.host_id ?? '', reason: f.reason ?? '' })),
  };
}

export interface WireFleetHost {
  host_id: string;
  version: string;
  update_state: string;
  health?: { units?: number; running?: number; failed?: number } | null;
  slot: string;
  settings_revision: number;
  last_seen: string;
  last_error: string;
}

export interface WireFleetStatus {
  group: string;
  hosts?: WireFleetHost[];
  rollout?: WireFleetRollout | null;
}

export interface WireFleetRolloutResponse {
  group: string;
  rollout?: WireFleetRollout | null;
}

export function fleetHostToWire(h: FleetHostInfo): WireFleetHost {
  return {
    host_id: h.hostId, version: h.version, update_state: h.updateState, health: { ...h.health }, slot: h.slot,
    settings_revision: h.settingsRevision, last_seen: h.lastSeen, last_error: h.lastError,
  };
}

export function fleetHostFromWire(w: WireFleetHost): FleetHostInfo {
  return {
    hostId: w.host_id ?? '', version: w.version ?? '', updateState: w.update_state ?? '',
    health: { units: w.health?.units ?? 0, running: w.health?.running ?? 0, failed: w.health?.failed ?? 0 },
    slot: w.slot ?? '', settingsRevision: Number(w.settings_revision ?? 0), lastSeen: w.last_seen ?? '', lastError: w.last_error ?? '',
  };
}

export function fleetStatusFromWire(w: WireFleetStatus): FleetStatus {
  return { group: w.group ?? '', hosts: (w.hosts ?? []).map(fleetHostFromWire), rollout: fleetRolloutFromWire(w.rollout) };
}
