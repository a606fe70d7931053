// A small protobuf codec driven by a compiled root (the JSON that compile.ts writes), for berthctl's one-shot
// calls: loading protobufjs and building its root costs ~60 ms, this costs ~1 ms. It reproduces exactly what
// grpc-service.ts does with protobufjs — requests as `fromObject` + `encode`, responses as `decode` +
// `toObject(DECODE_OPTIONS)`, key order included — for the field types berth.v1 uses; any other type (enums,
// groups, fixed-width or zigzag integers, packed repeated numbers, non-string map keys) is refused when the
// type is first used, not silently mis-encoded. tests/unit/proto-codec.test.ts compares it with protobufjs.
import { Reader, Writer, int64Bits } from './codec-io.js';

/** The protobufjs JSON shape of a namespace, message or service (only what is read here). */
export interface JsonNode {
  nested?: Record<string, JsonNode>;
  fields?: Record<string, { type: string; id: number; rule?: string; keyType?: string }>;
  oneofs?: Record<string, { oneof: string[] }>;
  methods?: Record<string, { requestType: string; responseType: string; requestStream?: boolean; responseStream?: boolean }>;
}

const SCALARS = new Set(['double', 'float', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string', 'bytes']);
/** Wire type per scalar: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit. */
const WIRE: Record<string, number> = { double: 1, float: 5, int32: 0, uint32: 0, int64: 0, uint64: 0, bool: 0, string: 2, bytes: 2 };

interface Field {
  name: string;
  fullName: string;
  id: number;
  type: string;
  message?: MessageType;
  repeated: boolean;
  map: boolean;
  oneof?: string;
}

export class MessageType {
  /** Declared order (fromObject's), and by field number (encode's and toObject's). */
  readonly fields: Field[] = [];
  readonly byNumber: Field[];
  private readonly byId = new Map<number, Field>();

  constructor(readonly fullName: string, json: JsonNode, resolve: (type: string) => MessageType) {
    const oneofOf = new Map<string, string>();
    for (const [name, o] of Object.entries(json.oneofs ?? {})) for (const f of o.oneof) oneofOf.set(f, name);
    for (const [name, f] of Object.entries(json.fields ?? {})) {
      const fullField = `${fullName}.${name}`;
      const field: Field = { name, fullName: fullField, id: f.id, type: f.type, repeated: f.rule === 'repeated', map: f.keyType !== undefined };
      const oneof = oneofOf.get(name);
      if (oneof !== undefined) field.oneof = oneof;
      if (field.map && f.keyType !== 'string') throw new Error(`${fullField}: map keys of type ${f.keyType} are not supported by the fast codec`);
      if (!SCALARS.has(f.type)) field.message = resolve(f.type);
      else if (field.repeated && WIRE[f.type] !== 2) throw new Error(`${fullField}: repeated ${f.type} is not supported by the fast codec`);
      this.fields.push(field);
      this.byId.set(f.id, field);
    }
    this.byNumber = [...this.fields].sort((a, b) => a.id - b.id);
  }

  /** protobufjs `fromObject` then `encode`. */
  encode(value: unknown): Buffer {
    const w = new Writer();
    this.write(value, w);
    return w.finish();
  }

  /** protobufjs `decode` then `toObject` with { longs: Number, enums: String, defaults: true, oneofs: true }. */
  decode(bytes: Uint8Array): Record<string, unknown> {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.readFrom(new Reader(buf, 0, buf.length), buf.length);
  }

  private write(d: unknown, w: Writer): void {
    if (this.fields.length === 0) return;
    if (!isObject(d)) throw new TypeError(`.${this.fullName}: object expected`);
    // Converted first in declared order (where fromObject throws), written in field-number order.
    const converted = new Map<Field, unknown>();
    for (const f of this.fields) {
      const v = d[f.name];
      if (f.map) {
        if (!v) continue;
        if (!isObject(v)) throw new TypeError(`.${f.fullName}: object expected`);
        converted.set(f, Object.keys(v).map((k) => [k, convert(f, v[k])] as const));
      } else if (f.repeated) {
        if (!v) continue;
        if (!Array.isArray(v)) throw new TypeError(`.${f.fullName}: array expected`);
        converted.set(f, (v as unknown[]).map((x) => convert(f, x)));
      } else if (v !== null && v !== undefined) {
        const c = convert(f, v);
        if (c !== undefined) converted.set(f, c);
      }
    }
    for (const f of this.byNumber) {
      if (!converted.has(f)) continue;
      const v = converted.get(f);
      if (f.map) {
        for (const [k, x] of v as [string, unknown][]) {
          const entry = new Writer();
          entry.tag(1, 2).string(k);
          writeValue(entry, f, 2, x);
          w.tag(f.id, 2).bytes(entry.finish());
        }
      } else if (f.repeated) {
        for (const x of v as unknown[]) writeValue(w, f, f.id, x);
      } else {
        writeValue(w, f, f.id, v);
      }
    }
  }

  /** Reads this message from `r` up to `end`; for nested fields of other types. */
  readFrom(r: Reader, end: number): Record<string, unknown> {
    const present = new Map<Field, unknown>();
    while (r.pos < end) {
      const tag = r.uint32();
      const f = this.byId.get(tag >>> 3);
      if (!f) {
        r.skip(tag & 7);
        continue;
      }
      if (f.map) {
        let map = present.get(f) as Record<string, unknown> | undefined;
        if (!map) present.set(f, (map = {}));
        const stop = r.uint32() + r.pos;
        if (stop > r.end) throw new RangeError('index out of range');
        let key = '';
        let value: unknown = f.message ? null : defaultOf(f.type);
        while (r.pos < stop) {
          const t = r.uint32();
          if (t >>> 3 === 1) key = r.string();
          else if (t >>> 3 === 2) value = readValue(r, f);
          else r.skip(t & 7);
        }
        setKey(map, key, value);
      } else if (f.repeated) {
        let list = present.get(f) as unknown[] | undefined;
        if (!list) present.set(f, (list = []));
        list.push(readValue(r, f));
      } else {
        present.set(f, readValue(r, f));
      }
    }
    if (r.pos !== end) throw new RangeError('index out of range');
    return this.toObject(present);
  }

  /** toObject's key order: defaults of repeated, map, then plain fields (none for oneof members), then values. */
  private toObject(present: Map<Field, unknown>): Record<string, unknown> {
    const d: Record<string, unknown> = {};
    if (this.fields.length === 0) return d;
    for (const f of this.byNumber) if (!f.oneof && f.repeated) d[f.name] = [];
    for (const f of this.byNumber) if (!f.oneof && f.map) d[f.name] = {};
    for (const f of this.byNumber) if (!f.oneof && !f.repeated && !f.map) d[f.name] = f.message ? null : defaultOf(f.type);
    for (const f of this.byNumber) {
      const v = present.get(f);
      if (v === undefined || v === null) continue;
      if (f.map) {
        if (Object.keys(v as object).length > 0) d[f.name] = v;
      } else if (f.repeated) {
        if ((v as unknown[]).length > 0) d[f.name] = v;
      } else {
        d[f.name] = v;
        if (f.oneof) d[f.oneof] = f.name;
      }
    }
    return d;
  }
}

/** Message types and services of one compiled root, resolved on first use. */
export class CompiledRoot {
  private readonly types = new Map<string, MessageType>();

  constructor(private readonly json: JsonNode) {}

  /** `berth.v1.Unit` → its codec. */
  type(fullName: string): MessageType {
    let t = this.types.get(fullName);
    if (t) return t;
    const node = this.node(fullName);
    if (!node?.fields) throw new Error(`no message type ${fullName} in the compiled root`);
    const scope = fullName.split('.');
    // Registered before its fields are resolved, so a type that refers to itself resolves.
    t = Object.create(MessageType.prototype) as MessageType;
    this.types.set(fullName, t);
    const built = new MessageType(fullName, node, (name) => this.type(this.qualify(scope, name)));
    Object.assign(t, built);
    return t;
  }

  /** `berth.v1.Units`, `Get` → the call's path and its request and response types. */
  method(service: string, name: string): { path: string; request: MessageType; response: MessageType; streaming: boolean } | undefined {
    const m = this.node(service)?.methods?.[name];
    if (!m) return undefined;
    const scope = service.split('.');
    return {
      path: `/${service}/${name}`,
      request: this.type(this.qualify(scope, m.requestType)),
      response: this.type(this.qualify(scope, m.responseType)),
      streaming: Boolean(m.requestStream || m.responseStream),
    };
  }

  private node(fullName: string): JsonNode | undefined {
    let node: JsonNode | undefined = this.json;
    for (const part of fullName.split('.')) node = node?.nested?.[part];
    return node;
  }

  /** protobufjs's lookup: a relative name is tried in the type's own scope, then in each enclosing one. */
  private qualify(scope: readonly string[], name: string): string {
    if (name.startsWith('.')) return name.slice(1);
    for (let i = scope.length; i >= 0; i--) {
      const candidate = [...scope.slice(0, i), name].join('.');
      if (this.node(candidate)?.fields) return candidate;
    }
    throw new Error(`cannot resolve type ${name} from ${scope.join('.')}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return Boolean(v) && typeof v === 'object';
}

function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  // A "__proto__" key is data, as protobufjs keeps it (util.makeProp), never the object's prototype.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function defaultOf(type: string): unknown {
  if (type === 'string') return '';
  if (type === 'bool') return false;
  if (type === 'bytes') return Buffer.alloc(0);
  return 0;
}

// ---- fromObject's conversions ------------------------------------------------------------------------

/** One value as fromObject converts it; undefined when fromObject would leave the field unset. */
function convert(f: Field, v: unknown): unknown {
  if (f.message) {
    if (!isObject(v)) throw new TypeError(`.${f.fullName}: object expected`);
    return v;
  }
  switch (f.type) {
    case 'double':
    case 'float':
      return Number(v);
    case 'uint32':
      return (v as number) >>> 0;
    case 'int32':
      return (v as number) | 0;
    case 'int64':
    case 'uint64':
      return int64Bits(v, f.type === 'uint64', f.fullName);
    case 'bool':
      return Boolean(v);
    case 'string':
      return String(v);
    default: {
      // bytes: base64 text or anything with a length.
      if (typeof v === 'string') return Buffer.from(v, 'base64');
      const len = (v as { length?: unknown }).length;
      return typeof len === 'number' && len >= 0 ? Buffer.from(v as Uint8Array) : undefined;
    }
  }
}

function writeValue(w: Writer, f: Field, id: number, v: unknown): void {
  if (f.message) {
    w.tag(id, 2).bytes(f.message.encode(v));
    return;
  }
  w.tag(id, WIRE[f.type]!);
  switch (f.type) {
    case 'double':
      w.fixed(8, (b) => b.writeDoubleLE(v as number));
      break;
    case 'float':
      w.fixed(4, (b) => b.writeFloatLE(v as number));
      break;
    case 'int32':
      w.varint(BigInt.asUintN(64, BigInt(v as number)));
      break;
    case 'uint32':
      w.uint32(v as number);
      break;
    case 'int64':
    case 'uint64':
      w.varint(v as bigint);
      break;
    case 'bool':
      w.uint32(v ? 1 : 0);
      break;
    case 'string':
      w.string(v as string);
      break;
    default:
      w.bytes(v as Buffer);
  }
}

// ---- decode ------------------------------------------------------------------------------------------

function readValue(r: Reader, f: Field): unknown {
  if (f.message) {
    const len = r.uint32();
    const end = r.pos + len;
    if (end > r.end) throw new RangeError('index out of range');
    return f.message.readFrom(r, end);
  }
  switch (f.type) {
    case 'double':
      return r.fixed(8).readDoubleLE(0);
    case 'float':
      return r.fixed(4).readFloatLE(0);
    case 'int32':
      return r.uint32() | 0;
    case 'uint32':
      return r.uint32();
    case 'int64':
      return Number(BigInt.asIntN(64, r.varint64()));
    case 'uint64':
      return Number(r.varint64());
    case 'bool':
      return r.uint32() !== 0;
    case 'string':
      return r.string();
    default:
      return r.bytes();
  }
}
