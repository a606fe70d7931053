// berth.v1's unary calls encoded and decoded without protobufjs, for berthctl's fast path (src/cli/unary-h2.ts):
// the messages are exactly those grpc-js sends and receives with the service definitions of ./proto.ts
// (tests/unit/proto-codec.test.ts), read from the same precompiled JSON root.
import { CompiledRoot, type JsonNode } from '../protobuf/codec.js';
import { BERTH_BUNDLE, readCompiled } from '../protobuf/compiled.js';
import type { BerthServiceName } from './services.js';

export interface UnaryCodec {
  /** `/berth.v1.Units/Get` */
  path: string;
  encode(request: object): Buffer;
  decode(response: Buffer): object;
}

let root: CompiledRoot | null | undefined;

/**
 * berthctl's bundle carries the build's JSON root inline (build/bundle-cli.ts defines this name), so a one-shot
 * call neither reads the file nor stats the .proto files to see whether it is fresh (on Node 20 the first
 * `fs.Stats` builds four Dates, ~2–8 ms of a ~30 ms budget). Unbundled, the name is undeclared and the file is read.
 */
declare const BERTHCTL_BERTH_PROTO_ROOT: JsonNode | undefined;

/**
 * The codec of one unary method; undefined when the build's JSON root is missing or older than the .proto
 * files (callers then use grpc-js, which parses the .proto files), or the method streams.
 */
export function berthUnaryCodec(service: BerthServiceName, method: string): UnaryCodec | undefined {
  if (root === undefined) {
    const json = typeof BERTHCTL_BERTH_PROTO_ROOT === 'undefined' ? readCompiled(BERTH_BUNDLE) : BERTHCTL_BERTH_PROTO_ROOT;
    root = json ? new CompiledRoot(json) : null;
  }
  const m = root?.method(`berth.v1.${service}`, method);
  if (!m || m.streaming) return undefined;
  return {
    path: m.path,
    encode: (request) => {
      // As grpc-service.ts's serializer: an array is never a message.
      if (Array.isArray(request)) throw new Error(`cannot serialize an array as ${m.request.fullName}`);
      return m.request.encode(request);
    },
    decode: (response) => m.response.decode(response),
  };
}
