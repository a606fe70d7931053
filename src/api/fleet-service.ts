// berth.v1.Fleet: the hosts of a fleet group, as berthd reads them from etcd (FleetApi is the daemon's).
import type * as grpc from '@grpc/grpc-js';
import { fleetHostToWire, type FleetHostInfo, type WireFleetStatus } from '../wire/index.js';
import { unary } from './calls.js';

export interface FleetApi {
  /** Every host of `group` (empty: this host's group) with its record. */
  status(group: string): Promise<{ group: string; hosts: FleetHostInfo[] }>;
}

export function fleetService(fleet: FleetApi): grpc.UntypedServiceImplementation {
  return {
    Status: unary<{ group: string }, WireFleetStatus>(async ({ group }) => {
      const r = await fleet.status(group ?? '');
      return { group: r.group, hosts: r.hosts.map(fleetHostToWire) };
    }),
  };
}
