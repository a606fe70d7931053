import type protobuf from 'protobufjs';
import { CONTAINERD_BUNDLE, loadBundle } from '../protobuf/bundle.js';

/** Any payloads (event bodies, runc options) are types of the same root as the services. */
function codecRoot(): protobuf.Root {
  return loadBundle(CONTAINERD_BUNDLE);
}

export interface AnyMessage {
  type_url: string;
  value: Buffer | Uint8Array;
}

export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
export const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
export const RUNC_OPTIONS_TYPE_URL = 'containerd.runc.v1.Options';

/** containerd stores OCI specs and process specs as JSON inside an Any with a bare type URL. */
export function jsonAny(typeUrl: string, value: unknown): AnyMessage {
  return { type_url: typeUrl, value: Buffer.from(JSON.stringify(value)) };
}

export function decodeJsonAny<T>(any: AnyMessage | null | undefined): T | undefined {
  if (!any || !any.value || any.value.length === 0) return undefined;
  return JSON.parse(Buffer.from(any.value).toString('utf8')) as T;
}

/** Protobuf-encode a message into an Any whose type URL is the bare full name (no type.googleapis.com/). */
export function protoAny(fullName: string, value: Record<string, unknown>): AnyMessage {
  const type = codecRoot().lookupType(fullName);
  const err = type.verify(value);
  if (err) throw new Error(`${fullName}: ${err}`);
  return { type_url: fullName, value: Buffer.from(type.encode(type.fromObject(value)).finish()) };
}

/** Decode a protobuf Any by its type URL into a plain object (int64 as numbers, enums as names). */
export function decodeProtoAny(any: AnyMessage): Record<string, unknown> | undefined {
  const name = any.type_url.replace(/^.*\//, '');
  let type: protobuf.Type;
  try {
    type = codecRoot().lookupType(name);
  } catch {
    return undefined;
  }
  const msg = type.decode(Buffer.from(any.value));
  return type.toObject(msg, { longs: Number, enums: String, defaults: true }) as Record<string, unknown>;
}
