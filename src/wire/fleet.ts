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

export interface FleetStatus {
  group: string;
  hosts: FleetHostInfo[];
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
  return { group: w.group ?? '', hosts: (w.hosts ?? []).map(fleetHostFromWire) };
}
