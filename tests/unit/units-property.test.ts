// Property tests: whatever goes in, validation returns ok or well-formed errors, never throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseUnit, specHash, validateUnit, type UnitResult, type UnitSpec } from '../../src/units/index.js';

const RUNS = { numRuns: 600, seed: 20240503 } as const;

function wellFormed(r: UnitResult<UnitSpec>): boolean {
  if (r.ok) return typeof r.unit.name === 'string' && /^[0-9a-f]{64}$/.test(specHash(r.unit));
  return r.errors.length > 0 && r.errors.every((e) => typeof e.path === 'string' && e.path.length > 0
    && typeof e.message === 'string' && e.message.length > 0);
}

const VALID = {
  name: 'app',
  class: 'workload',
  image: 'registry.example.com/team/app:1.2',
  command: ['/app'],
  env: { PORT: '8080' },
  mounts: [
    { type: 'bind', source: '/var/lib/berth/volumes/app', destination: '/data', options: ['rw'] },
    { type: 'tmpfs', destination: '/tmp', size: '64Mi', mode: '1777' },
  ],
  capabilities: { add: ['NET_RAW'], drop: ['CHOWN'] },
  resources: { memory: '256Mi', cpus: 0.5, pids: 100 },
  restart: { policy: 'on-failure' },
  health: { command: ['/app', 'check'], interval: '10s', timeout: '1s', retries: 3 },
  stop: { signal: 'SIGTERM', timeout: '20s' },
} as const;

test('the base object of the mutation tests is valid', () => {
  assert.ok(validateUnit(structuredClone(VALID)).ok);
});

test('random values never make validateUnit throw', () => {
  fc.assert(fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true }), (v) => {
    assert.ok(wellFormed(validateUnit(v, 'x.toml')));
  }), RUNS);
});

test('random objects with unit-like keys never make validateUnit throw', () => {
  const keys = fc.constantFrom('name', 'class', 'image', 'command', 'args', 'env', 'working-dir', 'user', 'superpowered',
    'mounts', 'user-data', 'persistent-storage', 'capabilities', 'devices', 'namespaces', 'resources', 'restart',
    'depends-on', 'health', 'stop', 'bootstrap', 'type', 'destination', 'source', 'memory', 'add', 'drop');
  const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }));
  fc.assert(fc.property(fc.dictionary(keys, value), (obj) => {
    assert.ok(wellFormed(validateUnit(obj)));
  }), RUNS);
});

type Path = Array<string | number>;

function paths(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

function setAt(root: Record<string, unknown>, path: Path, replacement: unknown, remove: boolean): unknown {
  if (path.length === 0) return replacement;
  let node: unknown = root;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[key];
  const last = path[path.length - 1]!;
  const container = node as Record<string | number, unknown>;
  if (remove && !Array.isArray(container)) delete container[last];
  else container[last] = replacement;
  return root;
}

test('mutated valid specs give ok or errors with path and message', () => {
  const allPaths = paths(VALID);
  const replacement = fc.oneof(fc.anything(), fc.string(), fc.integer({ min: -10, max: 10 }), fc.constant('..'),
    fc.constant('/a/../b'), fc.constant('ALL'), fc.constant('host'), fc.constant(true));
  fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(...allPaths), replacement, fc.boolean()), { minLength: 1, maxLength: 4 }), (edits) => {
    let obj: unknown = structuredClone(VALID);
    for (const [path, value, remove] of edits) {
      try {
        obj = setAt(obj as Record<string, unknown>, path, value, remove);
      } catch {
        // The path vanished through an earlier edit; skip it.
      }
    }
    assert.ok(wellFormed(validateUnit(obj, 'app.toml')));
  }), RUNS);
});

test('random text never makes parseUnit throw', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
    assert.ok(wellFormed(parseUnit(text, 'x.toml')));
  }), RUNS);
});

test('mutated valid TOML gives ok or errors with path and message', () => {
  const base = 'name = "app"\nclass = "host"\nimage = "localhost/app:1"\n[resources]\nmemory = "64Mi"\n[[mounts]]\ntype = "tmpfs"\ndestination = "/tmp"\n';
  fc.assert(fc.property(fc.nat({ max: base.length }), fc.nat({ max: 5 }), fc.string({ maxLength: 8 }), (at, cut, insert) => {
    const text = base.slice(0, at) + insert + base.slice(Math.min(base.length, at + cut));
    assert.ok(wellFormed(parseUnit(text, 'app.toml')));
  }), RUNS);
});

test('every valid unit name is accepted and every name with another character rejected', () => {
  const nameChar = fc.constantFrom(...'abcxyzABCXYZ0123456789-'.split(''));
  const valid = fc.tuple(fc.constantFrom(...'aZ09'.split('')), fc.array(nameChar, { maxLength: 75 }))
    .map(([first, rest]) => first + rest.join(''));
  fc.assert(fc.property(valid, (name) => {
    assert.ok(validateUnit({ name, class: 'host', image: 'localhost/a:1' }).ok);
  }), RUNS);
  fc.assert(fc.property(valid, fc.constantFrom('.', '/', '_', ' ', 'é', ':'), fc.nat(), (name, bad, pos) => {
    const i = pos % (name.length + 1);
    const r = validateUnit({ name: name.slice(0, i) + bad + name.slice(i), class: 'host', image: 'localhost/a:1' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.errors.some((e) => e.path === 'name'));
  }), RUNS);
});
