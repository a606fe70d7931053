// berth's own API definitions (proto/berth/v1), loaded once per process with the same loader options as
// containerd's, so server and client agree on field names (snake_case), int64 as numbers and oneof markers.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { LOADER_OPTIONS, protoRoot } from '../containerd/proto.js';

const FILES = ['settings.proto', 'units.proto', 'events.proto', 'images.proto', 'host.proto', 'workloads.proto'];

export const BERTH_SERVICES = ['Settings', 'Units', 'Events', 'Images', 'Host', 'Workloads'] as const;
export type BerthServiceName = (typeof BERTH_SERVICES)[number];

let cached: protoLoader.PackageDefinition | undefined;

export function berthPackageDefinition(): protoLoader.PackageDefinition {
  if (cached) return cached;
  const dir = path.join(protoRoot(), 'berth', 'v1');
  cached = protoLoader.loadSync(FILES, { ...LOADER_OPTIONS, includeDirs: [dir] });
  return cached;
}

/** Method definitions of `berth.v1.<name>`, for `server.addService`. */
export function berthService(name: BerthServiceName): grpc.ServiceDefinition {
  const def = berthPackageDefinition()[`berth.v1.${name}`];
  // Message and enum definitions carry a `format` field; service definitions are maps of methods.
  if (!def || 'format' in def) {
    throw new Error(`berth.v1.${name} is not a service in proto/berth/v1`);
  }
  return def as grpc.ServiceDefinition;
}

/** Client constructor of `berth.v1.<name>`. */
export function berthClientConstructor(name: BerthServiceName): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(berthService(name), name);
}
