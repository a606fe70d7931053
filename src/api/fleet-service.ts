// berth.v1.Fleet: the hosts of a fleet group, as berthd reads them from etcd, and the group's rolling update
// (FleetApi is the daemon's).
import type * as grpc from '@grpc/grpc-js';
import { fleetHostToWire, fleetRolloutToWire, type FleetHostInfo, type FleetRolloutInfo, type WireFleetRolloutResponse, type WireFleetStatus } from '../wire/index.js';
import { unary } from './calls.js';

export interface FleetApi {
  /** Every host of `group` (empty: this host's group) with its record, and the group's rollout. */
  status(group: string): Promise<{ group: string; hosts: FleetHostInfo[]; rollout: FleetRolloutInfo }>;
  /** Starts (or retargets) the group's rolling update. */
  update(group: string, version: string, maxConcurrent: number): Promise<{ group: string; rollout: FleetRolloutInfo }>;
  hold(group: string): Promise<{ group: string; rollout: FleetRolloutInfo }>;
  resume(group: string): Promise<{ group: string; rollout: FleetRolloutInfo }>;
}

function rolloutAnswer(r: { group: string; rollout: FleetRolloutInfo }): WireFleetRolloutResponse {
  return { group: r.group, rollout: fleetRolloutToWire(r.rollout) };
}

export function fleetService(fleet: FleetApi): grpc.UntypedServiceImplementation {
  return {
    Status: unary<{ group: string }, WireFleetStatus>(async ({ group }) => {
      const r = await fleet.status(group ?? '');
      return { group: r.group, hosts: r.hosts.map(fleetHostToWire), rollout: fleetRolloutToWire(r.rollout) };
    }),
    Update: unary<{ group: string; version: string; max_concurrent: number }, WireFleetRolloutResponse>(async (req) =>
      rolloutAnswer(await fleet.update(req.group ?? '', req.version ?? '', req.max_concurrent ?? 0))),
    Hold: unary<{ group: string }, WireFleetRolloutResponse>(async ({ group }) => rolloutAnswer(await fleet.hold(group ?? ''))),
    Resume: unary<{ group: string }, WireFleetRolloutResponse>(async ({ group }) => rolloutAnswer(await fleet.resume(group ?? ''))),
  };
}
