// berth's own API definitions (proto/berth/v1), decoded like containerd's (snake_case field names, int64 as
// numbers, enums by name, oneof markers), so server and client agree.
import * as grpc from '@grpc/grpc-js';
import { BERTH_BUNDLE, loadBundle } from '../protobuf/bundle.js';
import { grpcServiceDefinition } from '../protobuf/grpc-service.js';
import type { BerthServiceName } from './services.js';

export { BERTH_SERVICES, type BerthServiceName } from './services.js';

/** Method definitions of `berth.v1.<name>`, for `server.addService`. */
export function berthService(name: BerthServiceName): grpc.ServiceDefinition {
  return grpcServiceDefinition(loadBundle(BERTH_BUNDLE), `berth.v1.${name}`);
}

/** Client constructor of `berth.v1.<name>`. */
export function berthClientConstructor(name: BerthServiceName): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(berthService(name), name);
}
