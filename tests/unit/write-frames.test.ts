// Content.Write's data messages built in place: what containerd decodes from them, and how a stream is cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CONTAINERD_BUNDLE, loadBundle } from '../../src/protobuf/bundle.js';
import { DECODE_OPTIONS, grpcServiceDefinition } from '../../src/protobuf/grpc-service.js';
import { CHUNK, WriteFrame, framed, usingFrames } from '../../src/containerd/write-frames.js';

const root = loadBundle(CONTAINERD_BUNDLE);
const WriteContentRequest = root.lookupType('containerd.services.content.v1.WriteContentRequest');
const decode = (bytes: Uint8Array): Record<string, unknown> => WriteContentRequest.toObject(WriteContentRequest.decode(bytes), DECODE_OPTIONS);

test('a frame decodes as WriteContentRequest{action: WRITE, offset, data}, at small and large offsets', () =>
  usingFrames(async () => {
    for (const offset of [0, 1, 127, 128, 300 * 2 ** 20, 2 ** 40 + 3]) {
      const frame = WriteFrame.take();
      const data = randomBytes(1000);
      assert.equal(frame.fill(data), 1000);
      const msg = decode(frame.encode(offset));
      assert.equal(msg.action, 'WRITE');
      assert.equal(msg.offset, offset);
      assert.ok(Buffer.from(msg.data as Uint8Array).equals(data));
      assert.equal(msg.ref, '');
      frame.release();
    }
  }));

test('a full frame holds exactly CHUNK bytes and takes no more', () =>
  usingFrames(async () => {
    const frame = WriteFrame.take();
    const big = randomBytes(CHUNK + 10);
    assert.equal(frame.fill(big), CHUNK);
    assert.ok(frame.full);
    assert.equal(frame.fill(big), 0);
    const msg = decode(frame.encode(5));
    assert.ok(Buffer.from(msg.data as Uint8Array).equals(big.subarray(0, CHUNK)));
  }));

test('the serializer passes an encoded Buffer through and still encodes objects', () => {
  const write = grpcServiceDefinition(root, 'containerd.services.content.v1.Content').Write!;
  const encoded = Buffer.from([8, 1, 40, 7]);
  assert.equal(write.requestSerialize(encoded), encoded);
  assert.deepEqual(decode(write.requestSerialize({ action: 'COMMIT', offset: 9 })), { ...decode(Buffer.alloc(0)), action: 'COMMIT', offset: 9 });
});

async function* pieces(sizes: number[], fail?: Error): AsyncGenerator<Uint8Array> {
  let n = 0;
  for (const size of sizes) {
    yield Uint8Array.from({ length: size }, () => n++ & 0xff);
  }
  if (fail) throw fail;
}

const expected = (total: number): Buffer => Buffer.from(Uint8Array.from({ length: total }, (_, i) => i & 0xff));

test('a stream is regrouped into CHUNK-sized frames, pieces split across frames, the last one shorter', () =>
  usingFrames(async () => {
    const sizes = [65536, CHUNK - 100, 300, CHUNK, 65536 * 3, 17];
    const total = sizes.reduce((a, b) => a + b, 0);
    const out: Buffer[] = [];
    for await (const frame of framed(pieces(sizes))) {
      out.push(Buffer.from(frame.data));
      frame.release();
    }
    assert.equal(total, 2 * CHUNK + 262361);
    assert.deepEqual(out.map((b) => b.length), [CHUNK, CHUNK, 262361]);
    assert.ok(Buffer.concat(out).equals(expected(total)));
  }));

test('a source that fails hands over the bytes that came before it, then the failure', () =>
  usingFrames(async () => {
    const boom = new Error('connection reset');
    const out: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const frame of framed(pieces([CHUNK + 5, 40], boom))) out.push(Buffer.from(frame.data));
      })(),
      (e) => e === boom,
    );
    assert.deepEqual(out.map((b) => b.length), [CHUNK, 45]);
    assert.ok(Buffer.concat(out).equals(expected(CHUNK + 45)));
  }));
