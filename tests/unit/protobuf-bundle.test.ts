import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { BUNDLES, CONTAINERD_BUNDLE, BERTH_BUNDLE, compiledPath, loadBundle, parseBundle } from '../../src/protobuf/bundle.js';
import { grpcServiceDefinition } from '../../src/protobuf/grpc-service.js';

test('the build precompiles every proto bundle, and the JSON is exactly what the .proto files say', () => {
  for (const bundle of BUNDLES) {
    assert.ok(existsSync(compiledPath(bundle)), `${bundle.name}: ${compiledPath(bundle)} missing (npm run build writes it)`);
    const compiled: unknown = JSON.parse(readFileSync(compiledPath(bundle), 'utf8'));
    assert.deepEqual(compiled, JSON.parse(JSON.stringify(parseBundle(bundle).toJSON())), `${bundle.name}: compiled JSON differs from proto/${bundle.dir}`);
  }
});

test('containerd method definitions: paths, streaming, and wire round trips keep field names, int64, enums', () => {
  const content = grpcServiceDefinition(loadBundle(CONTAINERD_BUNDLE), 'containerd.services.content.v1.Content');
  const write = content['Write']!;
  assert.equal(write.path, '/containerd.services.content.v1.Content/Write');
  assert.equal(write.requestStream, true);
  assert.equal(write.responseStream, true);
  assert.equal(content['Read']!.requestStream, false);
  assert.equal(content['Read']!.responseStream, true);
  assert.equal(write.originalName, 'write');

  const request = { action: 'COMMIT', ref: 'layer-1', total: 2 ** 40 + 3, expected: 'sha256:ab', offset: 7, data: Buffer.from('xy'), labels: { 'containerd.io/gc.root': 'now' } };
  const bytes = write.requestSerialize(request);
  const decoded = write.requestDeserialize(bytes) as Record<string, unknown>;
  assert.equal(decoded['action'], 'COMMIT');
  assert.equal(decoded['total'], 2 ** 40 + 3);
  assert.equal(typeof decoded['offset'], 'number');
  assert.deepEqual(decoded['labels'], request.labels);
  assert.deepEqual(Buffer.from(decoded['data'] as Uint8Array), Buffer.from('xy'));
});

test('berth method definitions: defaults filled in, and the set member of a oneof is named', () => {
  const units = grpcServiceDefinition(loadBundle(BERTH_BUNDLE), 'berth.v1.Units');
  const exec = Object.values(units).find((m) => m.requestStream && m.responseStream);
  assert.ok(exec, 'berth.v1.Units has a bidirectional exec method');
  const input = exec.requestDeserialize(exec.requestSerialize({ resize: { cols: 80, rows: 24 } })) as Record<string, unknown>;
  assert.equal(input['input'], 'resize');
  assert.deepEqual(input['resize'], { cols: 80, rows: 24 });
  const output = exec.responseDeserialize(exec.responseSerialize({ exit: {} })) as Record<string, unknown>;
  assert.equal(output['output'], 'exit');
  assert.deepEqual(output['exit'], { code: 0 });
});

test('an unknown service is an error naming it', () => {
  assert.throws(() => grpcServiceDefinition(loadBundle(BERTH_BUNDLE), 'berth.v1.Nope'), /Nope/);
});

test('serializing an array instead of a message is refused', () => {
  const units = grpcServiceDefinition(loadBundle(BERTH_BUNDLE), 'berth.v1.Units');
  const anyMethod = Object.values(units)[0]!;
  assert.throws(() => anyMethod.requestSerialize([] as unknown as object), /array/);
});
