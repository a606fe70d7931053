// The fast codec (src/protobuf/codec.ts) against protobufjs, the codec grpc-js uses on both sides: for every
// berth.v1 message type and random values, the same request bytes (fromObject + encode) and the same decoded
// response, key order included (decode + toObject with DECODE_OPTIONS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { BERTH_BUNDLE, loadBundle } from '../../src/protobuf/bundle.js';
import { CompiledRoot, type JsonNode } from '../../src/protobuf/codec.js';
import { readCompiled } from '../../src/protobuf/compiled.js';
import { DECODE_OPTIONS } from '../../src/protobuf/grpc-service.js';
import { berthUnaryCodec } from '../../src/wire/unary-codec.js';
import { BERTH_SERVICES } from '../../src/wire/services.js';

const json = readCompiled(BERTH_BUNDLE);
const pbRoot = loadBundle(BERTH_BUNDLE);

function messageNames(): string[] {
  const v1 = json?.nested?.['berth']?.nested?.['v1']?.nested ?? {};
  return Object.entries(v1).filter(([, n]) => n.fields !== undefined).map(([name]) => `berth.v1.${name}`);
}

const INT32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const SCALAR: Record<string, fc.Arbitrary<unknown>> = {
  string: fc.string({ unit: 'grapheme', maxLength: 12 }),
  bool: fc.boolean(),
  int32: INT32,
  uint32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  // Whole numbers of any size, fractions, negatives, decimal strings: all that fromObject turns into a Long.
  int64: fc.oneof(fc.maxSafeInteger(), INT32, fc.double({ noNaN: true, min: -1e20, max: 1e20 }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)),
  uint64: fc.oneof(fc.maxSafeNat(), fc.double({ noNaN: true, min: 0, max: 1e20 })),
  double: fc.double(),
  float: fc.float(),
  bytes: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
};

/** Random plain objects shaped like message `fullName` (fields absent, null or set). */
function arbitrary(node: JsonNode, scope: string, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, f] of Object.entries(node.fields ?? {})) {
    let value: fc.Arbitrary<unknown>;
    if (SCALAR[f.type]) value = SCALAR[f.type]!;
    else {
      const nested = json?.nested?.['berth']?.nested?.['v1']?.nested?.[f.type];
      assert.ok(nested, `${scope}.${name}: type ${f.type}`);
      value = depth > 3 ? fc.constant({}) : arbitrary(nested, scope, depth + 1);
    }
    if (f.keyType) value = fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 3 });
    else if (f.rule === 'repeated') value = fc.array(value, { maxLength: 3 });
    parts[name] = fc.option(value, { nil: undefined, freq: 3 });
  }
  return fc.record(parts, { requiredKeys: [] }) as fc.Arbitrary<Record<string, unknown>>;
}

test('the compiled root is fresh (the fast path is in use after a build)', () => {
  assert.ok(json, 'dist/src/protobuf/berth.proto.json is missing or stale');
  const unary = { Settings: 'Get', Units: 'List', Images: 'List', Host: 'Version', Workloads: 'Get', Fleet: 'Status', Updates: 'Status' } as const;
  for (const service of BERTH_SERVICES) {
    if (service !== 'Events') assert.ok(berthUnaryCodec(service, unary[service]), `${service}/${unary[service]}`);
  }
  assert.equal(berthUnaryCodec('Events', 'Watch'), undefined, 'streaming methods are not for the fast path');
  assert.equal(berthUnaryCodec('Units', 'Logs'), undefined, 'streaming methods are not for the fast path');
  assert.equal(berthUnaryCodec('Units', 'Nope'), undefined);
  assert.equal(berthUnaryCodec('Units', 'Get')?.path, '/berth.v1.Units/Get');
});

test('every berth.v1 message: same bytes as protobufjs, same decoded object (and key order)', () => {
  const root = new CompiledRoot(json!);
  const names = messageNames();
  assert.ok(names.length > 40, `${names.length} message types`);
  for (const name of names) {
    const mine = root.type(name);
    const theirs: protobuf.Type = pbRoot.lookupType(name);
    const node = json!.nested!['berth']!.nested!['v1']!.nested![name.split('.').at(-1)!]!;
    fc.assert(
      fc.property(arbitrary(node, name), (value) => {
        const expected = Buffer.from(theirs.encode(theirs.fromObject(value)).finish());
        const got = mine.encode(value);
        assert.deepEqual(got.toString('hex'), expected.toString('hex'), `${name} encode of ${JSON.stringify(value)}`);
        const decodedTheirs = theirs.toObject(theirs.decode(expected), DECODE_OPTIONS);
        const decodedMine = mine.decode(expected);
        assert.deepStrictEqual(decodedMine, decodedTheirs, name);
        assert.equal(JSON.stringify(decodedMine), JSON.stringify(decodedTheirs), `${name}: key order`);
      }),
      { numRuns: 60 },
    );
  }
});

test('int64 edges as protobufjs (long.js) converts them: clamped, truncated, wrapped, NaN as 0', () => {
  const root = new CompiledRoot(json!);
  const mine = root.type('berth.v1.WorkloadSpec');
  const theirs = pbRoot.lookupType('berth.v1.WorkloadSpec');
  for (const v of [2 ** 63, -(2 ** 63), 2 ** 64, 1e30, -1e30, Infinity, -Infinity, NaN, 1.5, -1.5, -0, 2 ** 53 + 2, -(2 ** 53) - 2,
    '9223372036854775807', '-9223372036854775808', '18446744073709551615', '0', 2n ** 70n + 5n, -3n]) {
    const value = { memory_bytes: v, pids: v, cpus: typeof v === 'number' ? v : 1 };
    const expected = Buffer.from(theirs.encode(theirs.fromObject(value)).finish());
    assert.equal(mine.encode(value).toString('hex'), expected.toString('hex'), String(v));
    assert.deepStrictEqual(mine.decode(expected), theirs.toObject(theirs.decode(expected), DECODE_OPTIONS), String(v));
  }
});

test('decoding skips unknown fields and reads what a newer server appends', () => {
  const root = new CompiledRoot(json!);
  const unit = pbRoot.lookupType('berth.v1.Unit');
  // A Unit read as a UnitRequest (name = 1) keeps the name and ignores the other fields, as protobufjs does.
  const bytes = Buffer.from(unit.encode(unit.fromObject({ name: 'admin', pid: 7, events: [{ at: 'now' }], selinux: { applied: true } })).finish());
  const request = pbRoot.lookupType('berth.v1.UnitRequest');
  assert.deepEqual(root.type('berth.v1.UnitRequest').decode(bytes), request.toObject(request.decode(bytes), DECODE_OPTIONS));
  assert.deepEqual(root.type('berth.v1.UnitRequest').decode(bytes), { name: 'admin' });
});

test('bad requests fail with the words of protobufjs', () => {
  const root = new CompiledRoot(json!);
  for (const [name, value] of [
    ['berth.v1.Unit', { selinux: 5 }],
    ['berth.v1.Unit', { events: 'x' }],
    ['berth.v1.SetSettingsRequest', { values: 'x' }],
    ['berth.v1.UnitRequest', 'x'],
  ] as const) {
    const theirs = pbRoot.lookupType(name);
    const expected = (() => {
      try {
        theirs.encode(theirs.fromObject(value as Record<string, unknown>));
        return 'no error';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    assert.throws(() => root.type(name).encode(value), (err: Error) => err.message === expected, `${name}: ${expected}`);
  }
  assert.throws(() => new CompiledRoot({ nested: { t: { nested: { M: { fields: { e: { type: 'E', id: 1 } } } } } } }).type('t.M'), /cannot resolve type E/);
  assert.throws(() => new CompiledRoot({ nested: { t: { nested: { M: { fields: { n: { type: 'sint32', id: 1, rule: 'repeated' } } } } } } }).type('t.M'), /cannot resolve|not supported/);
});
