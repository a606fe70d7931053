import * as grpc from '@grpc/grpc-js';
import { CONTAINERD_BUNDLE, loadBundle } from '../protobuf/bundle.js';
import { grpcServiceDefinition } from '../protobuf/grpc-service.js';

export type ServiceCtor = grpc.ServiceClientConstructor;

const constructors = new Map<string, ServiceCtor>();

/** Client constructor of a containerd service by its full name, e.g. `containerd.services.tasks.v1.Tasks`. */
export function serviceConstructor(fullName: string): ServiceCtor {
  let ctor = constructors.get(fullName);
  if (!ctor) {
    ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(loadBundle(CONTAINERD_BUNDLE), fullName), fullName.split('.').at(-1)!);
    constructors.set(fullName, ctor);
  }
  return ctor;
}
