// The settings families (src/settings/families/) are the one declaration of every setting: these check that
// the typed views read from them (fallbacks, stored text turned into numbers, instance order) and that a
// family written wrongly is refused when the key list is derived, not at an operator's first `set`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { imagesFamily, hostContainersFamily, readFamily, SETTINGS } from '../../src/settings/index.js';
import { family, instances, settingMeta, settingsOf } from '../../src/settings/model.js';
import { booleanValue, stringValue } from '../../src/settings/values.js';
import { containerName } from '../../src/settings/families/wildcards.js';

test('a family view applies fallbacks and gives readers typed values', () => {
  assert.deepEqual(readFamily(new Map(), imagesFamily), {
    pullPolicy: 'if-not-present', maxUnpackedSize: 8 * 1024 ** 3, pullTimeoutMs: 30 * 60_000, pullStallTimeoutMs: 30_000,
  });
  const set = readFamily(new Map([['images.pull-timeout', '2h'], ['images.max-unpacked-size', '50Mi'], ['selinux.mode', 'off']]), imagesFamily);
  assert.equal(set.pullTimeoutMs, 2 * 3_600_000);
  assert.equal(set.maxUnpackedSize, 50 * 1024 ** 2);
});

test('instances keep key order and omit unset optional fields', () => {
  const hosts = readFamily(new Map<string, string | boolean>([
    ['host-containers.10.source', 'busybox'],
    ['host-containers.9.enabled', true],
    ['host-containers.9.source', 'busybox'],
    ['host-containers.9.user-data', 'aGk='],
  ]), hostContainersFamily);
  assert.deepEqual([...hosts.keys()], ['10', '9']);
  assert.deepEqual(hosts.get('10'), { enabled: false, superpowered: false, source: 'busybox' });
  assert.deepEqual(hosts.get('9'), { enabled: true, superpowered: false, source: 'busybox', userData: 'aGk=' });
});

test('property names map to kebab-case keys unless a key is declared', () => {
  const patterns = SETTINGS.map((d) => d.pattern);
  for (const p of ['images.pull-timeout', 'workloads.host-path-allow-list', 'container-registry.credentials.<registry>.identitytoken', 'host-containers.<name>.user-data']) {
    assert.ok(patterns.includes(p), p);
  }
});

test('a family written wrongly is refused when its keys are derived', () => {
  const leaf = (s: z.ZodType) => s.register(settingMeta, { description: 'x' });
  assert.throws(() => settingsOf(family('t', z.object({ a: leaf(booleanValue()) }))), /t\.a: a fixed key needs \.prefault\(\) or \.optional\(\)/);
  assert.throws(() => settingsOf(family('t', z.object({ a: leaf(z.boolean().optional()) }))), /t\.a: a setting's schema must be a value type/);
  assert.throws(() => settingsOf(family('t', z.object({ a: z.boolean() }))), /t\.a: expected an object, instances\(\) or a setting/);
  assert.throws(() => settingsOf(family('t', instances(z.string(), z.object({})))), /instances\(\) needs a key registered in wildcardMeta/);
  assert.throws(() => settingsOf(family('t', z.object({ a: leaf(stringValue('s', (v) => (v === 'ok' ? undefined : 'bad')).prefault('no')) }))), /t\.a: the fallback breaks its own rule/);
  const ok = settingsOf(family('t', instances(containerName(), z.object({ s: leaf(booleanValue()) }))));
  assert.deepEqual(ok.map((d) => [d.pattern, d.required, d.service]), [['t.<name>.s', true, 't.<name>']]);
});
