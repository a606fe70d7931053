import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** proto/ at the package root, found from dist/src/containerd or src/containerd alike. */
export function protoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'proto');
    try {
      readdirSync(candidate);
      return candidate;
    } catch {
      dir = path.dirname(dir);
    }
  }
  throw new Error('cannot find the proto/ directory of berth');
}

/** Loader options the containerd facts call for: snake_case fields, int64 as numbers, enum names. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: grpc.GrpcObject | undefined;

/** Every containerd service and message definition, loaded once per process. */
export function containerdPackage(): grpc.GrpcObject {
  if (cached) return cached;
  const dir = path.join(protoRoot(), 'containerd');
  const files = readdirSync(dir).filter((f) => f.endsWith('.proto'));
  const definition = protoLoader.loadSync(files, { ...LOADER_OPTIONS, includeDirs: [dir] });
  cached = grpc.loadPackageDefinition(definition);
  return cached;
}

export type ServiceCtor = grpc.ServiceClientConstructor;

/** Look up a service constructor by its full name, e.g. `containerd.services.tasks.v1.Tasks`. */
export function serviceConstructor(fullName: string): ServiceCtor {
  let node: unknown = containerdPackage();
  for (const part of fullName.split('.')) {
    node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`unknown service ${fullName}`);
  }
  return node as ServiceCtor;
}
