// The copy-on-write helper every SpecOpt uses: the input spec is never changed, and the copy shares nothing
// mutable with it except the frozen args and env.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cloneJson, produce } from '../../src/ocispec/opts/util.js';
import { defaultSpec } from '../../src/ocispec/defaults.js';

test('cloneJson: an equal value that shares no object or array with the original', () => {
  const original = { a: [1, { b: 'x', c: [true, null] }], d: { e: { f: 2 } }, g: null, h: 'str' };
  const copy = cloneJson(original);
  assert.deepEqual(copy, original);
  assert.notEqual(copy, original);
  assert.notEqual(copy.a, original.a);
  assert.notEqual(copy.a[1], original.a[1]);
  assert.notEqual(copy.d.e, original.d.e);
  (copy.a[1] as { c: unknown[] }).c.push('more');
  copy.d.e.f = 3;
  assert.deepEqual(original, { a: [1, { b: 'x', c: [true, null] }], d: { e: { f: 2 } }, g: null, h: 'str' });
});

test('produce: changes land on the copy only; args and env are shared frozen and must be replaced, not edited', () => {
  const spec = defaultSpec();
  spec.process.args = ['/bin/true'];
  const before = JSON.stringify(spec);
  const next = produce(spec, (draft) => {
    draft.process.cwd = '/elsewhere';
    draft.mounts?.push({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: [] });
    draft.process.env = [...draft.process.env, 'A=1'];
  });
  assert.equal(JSON.stringify(spec), before);
  assert.equal(next.process.cwd, '/elsewhere');
  assert.equal(next.mounts?.at(-1)?.destination, '/x');
  assert.deepEqual(next.process.env.at(-1), 'A=1');
  assert.equal(next.process.args, spec.process.args);
  assert.throws(() => produce(spec, (draft) => draft.process.args.push('x')), TypeError);
});
