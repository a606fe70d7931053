import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';

/**
 * How decoded messages look on both sides of every berth and containerd call: field names as written in the
 * .proto (snake_case), int64 as numbers, enums by name, defaults filled in, and the name of the set member
 * of each oneof.
 */
export const DECODE_OPTIONS: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, oneofs: true };

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    // A message the caller encoded itself (Content.Write's data messages, built in reused buffers).
    if (Buffer.isBuffer(value)) return value;
    if (Array.isArray(value)) throw new Error(`cannot serialize an array as ${type.fullName.slice(1)}`);
    const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    // protobufjs writes into a Buffer on Node: hand it over without a copy.
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), DECODE_OPTIONS);
}

/** grpc-js method definitions of one service of a loaded root, e.g. `containerd.services.tasks.v1.Tasks`. */
export function grpcServiceDefinition(root: protobuf.Root, fullName: string): grpc.ServiceDefinition {
  const service = root.lookupService(fullName);
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    definition[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: Boolean(method.requestStream),
      responseStream: Boolean(method.responseStream),
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return definition;
}
