import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { stringify as toToml } from 'smol-toml';
import {
  SETTINGS,
  SettingsError,
  SettingsStore,
  parseAssignments,
  settingsFilePath,
  settingsHelp,
  type ChangeMap,
  type FileWriter,
} from '../../src/settings/index.js';
import { AtomicWriteError, tempFilePrefix, writeFileAtomic } from '../../src/util/atomic-file.js';

// ---- helpers --------------------------------------------------------------------------------------------

const SHIPPED_DEFAULTS = fileURLToPath(new URL('../../../rootfs/usr/share/berth/settings.toml', import.meta.url));

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-settings-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function openStore(options: { stateDir?: string; defaultsFile?: string; writer?: FileWriter } = {}) {
  const stateDir = options.stateDir ?? (await tempDir());
  const store = await SettingsStore.open({
    stateDir,
    defaultsFile: options.defaultsFile ?? SHIPPED_DEFAULTS,
    ...(options.writer ? { writer: options.writer } : {}),
  });
  return { store, stateDir };
}

/** Asserts a SettingsError with the given code whose issues all name keys, and that one names `key`. */
function rejectsNaming(code: string, key: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SettingsError, `expected SettingsError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    const issue = err.issues.find((i) => i.key === key);
    assert.ok(issue, `no issue for ${key} in: ${err.message}`);
    assert.ok(err.message.includes(`${key}: `), err.message);
    if (pattern) assert.match(`${issue.key}: ${issue.message}`, pattern);
    return true;
  };
}

/** Runs `action`, expecting rejection, and checks that nothing observable changed. */
async function assertRejectedUnchanged(
  store: SettingsStore,
  action: () => Promise<unknown>,
  check: (err: unknown) => boolean,
): Promise<void> {
  const before = store.get();
  const generation = store.generation;
  await assert.rejects(action(), check);
  assert.deepEqual(store.get(), before);
  assert.equal(store.generation, generation);
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
const DIGEST = `sha256:${'ab'.repeat(32)}`;

// ---- every key: good and bad values ---------------------------------------------------------------------

interface KeyCase {
  /** A concrete key for the pattern. */
  key: string;
  /** Changes the key needs alongside it to form a complete state. */
  companion?: ChangeMap;
  good: Array<{ input: unknown; stored: unknown }>;
  bad: unknown[];
  sensitive?: boolean;
}

const hc = { 'host-containers.t.source': 'localhost/t:1' };
const bc = { 'bootstrap-containers.t.source': 'localhost/t:1' };
const bools = (): KeyCase['good'] => [
  { input: true, stored: true },
  { input: false, stored: false },
  { input: 'true', stored: true },
  { input: 'false', stored: false },
];
const badBools = ['maybe', 'TRUE', 'yes', '1', '', 1, ['true']];
const imageGood = [
  'busybox',
  'localhost/berth/admin:latest',
  'docker.io/library/busybox:1.36',
  'registry.example.com:5000/team/app:v1.2.3',
  '328549459982.dkr.ecr.us-west-2.amazonaws.com/bottlerocket-admin:v0.11.0',
  `busybox@${DIGEST}`,
  `ghcr.io/a/b:tag@${DIGEST}`,
].map((v) => ({ input: v, stored: v }));
const imageBad = [
  'Foo Bar',
  '',
  ' busybox',
  'UPPER/case',
  'repo:',
  'repo@sha256:abc',
  `repo@md5:${'a'.repeat(64)}`,
  'reg.io:99999/x',
  'a//b',
  '/abs',
  'x:bad tag',
  true,
  ['busybox'],
];
const userDataGood = [
  { input: b64('hello'), stored: b64('hello') },
  { input: '', stored: '' },
  { input: b64(Buffer.alloc(16 * 1024, 7)), stored: b64(Buffer.alloc(16 * 1024, 7)) },
];
const userDataBad = [
  'abc',
  'aGVsbG8',
  'aGVsbG8=\n',
  'aGV sbG8=',
  'aGVsbG9=', // non-zero padding bits
  '-_-_',
  'aGVsbG8===',
  b64(Buffer.alloc(16 * 1024 + 1, 7)),
  42,
];

const KEY_CASES: Record<string, KeyCase> = {
  'host-containers.<name>.enabled': { key: 'host-containers.t.enabled', companion: hc, good: bools(), bad: badBools },
  'host-containers.<name>.source': { key: 'host-containers.t.source', good: imageGood, bad: imageBad },
  'host-containers.<name>.superpowered': { key: 'host-containers.t.superpowered', companion: hc, good: bools(), bad: badBools },
  'host-containers.<name>.user-data': { key: 'host-containers.t.user-data', companion: hc, good: userDataGood, bad: userDataBad, sensitive: true },
  'host-containers.<name>.rollout.watch': {
    key: 'host-containers.t.rollout.watch',
    companion: hc,
    good: ['30s', '2s', '500ms'].map((v) => ({ input: v, stored: v })),
    bad: ['0s', 'soon', '30', 30, true],
  },
  'host-containers.<name>.rollout.guard': { key: 'host-containers.t.rollout.guard', companion: hc, good: bools(), bad: badBools },
  'bootstrap-containers.<name>.source': { key: 'bootstrap-containers.t.source', good: imageGood, bad: imageBad },
  'bootstrap-containers.<name>.mode': {
    key: 'bootstrap-containers.t.mode',
    companion: bc,
    good: ['off', 'once', 'always'].map((v) => ({ input: v, stored: v })),
    bad: ['sometimes', 'OFF', '', true],
  },
  'bootstrap-containers.<name>.essential': { key: 'bootstrap-containers.t.essential', companion: bc, good: bools(), bad: badBools },
  'bootstrap-containers.<name>.user-data': { key: 'bootstrap-containers.t.user-data', companion: bc, good: userDataGood, bad: userDataBad, sensitive: true },
  'bootstrap-containers.<name>.rollout.watch': {
    key: 'bootstrap-containers.t.rollout.watch',
    companion: bc,
    good: ['5m', '2s', '500ms'].map((v) => ({ input: v, stored: v })),
    bad: ['0s', 'soon', '30', 30, true],
  },
  'bootstrap-containers.<name>.rollout.guard': { key: 'bootstrap-containers.t.rollout.guard', companion: bc, good: bools(), bad: badBools },
  'selinux.mode': {
    key: 'selinux.mode',
    good: ['auto', 'enforce', 'off'].map((v) => ({ input: v, stored: v })),
    bad: ['permissive', 'Auto', '', false],
  },
  'container-registry.mirrors.<mirror-registry>': {
    key: 'container-registry.mirrors.docker.io',
    good: [
      { input: ['https://m.example'], stored: ['https://m.example'] },
      { input: 'https://a.example,http://b.example:5000/v2', stored: ['https://a.example', 'http://b.example:5000/v2'] },
      { input: '["https://x.example"]', stored: ['https://x.example'] },
      { input: [], stored: [] },
    ],
    bad: [['ftp://x.example'], 'not a url', ['https://u:p@x.example'], ['https://a.example', 'https://a.example'], '[broken', 5, [3]],
  },
  'container-registry.credentials.<registry>.username': {
    key: 'container-registry.credentials.registry.example.com:5000.username',
    good: [{ input: 'robot', stored: 'robot' }],
    bad: ['', 5, ['x']],
  },
  'container-registry.credentials.<registry>.password': {
    key: 'container-registry.credentials.docker.io.password',
    good: [{ input: 's3cret words', stored: 's3cret words' }],
    bad: ['', false],
    sensitive: true,
  },
  'container-registry.credentials.<registry>.auth': {
    key: 'container-registry.credentials.docker.io.auth',
    good: [{ input: b64('u:p'), stored: b64('u:p') }],
    bad: ['u:p', 7],
    sensitive: true,
  },
  'container-registry.credentials.<registry>.identitytoken': {
    key: 'container-registry.credentials.docker.io.identitytoken',
    good: [{ input: 'tok', stored: 'tok' }],
    bad: ['', 1],
    sensitive: true,
  },
  'container-registry.insecure.<registry>': { key: 'container-registry.insecure.localhost:5000', good: bools(), bad: badBools },
  'container-registry.ca-bundle': {
    key: 'container-registry.ca-bundle',
    good: [{ input: '/etc/pki/registry-ca.pem', stored: '/etc/pki/registry-ca.pem' }],
    bad: ['relative.pem', '/etc/../x.pem', '/etc/', '//etc/x', '/a\0b', true],
  },
  'workloads.runtime': {
    key: 'workloads.runtime',
    good: ['containerd', 'docker'].map((v) => ({ input: v, stored: v })),
    bad: ['podman', '', 1],
  },
  'workloads.host-path-allow-list': {
    key: 'workloads.host-path-allow-list',
    good: [
      { input: ['/data', '/srv/x'], stored: ['/data', '/srv/x'] },
      { input: '/data, /srv', stored: ['/data', '/srv'] },
      { input: '[]', stored: [] },
      { input: '', stored: [] },
    ],
    bad: ['data', ['/a', '/a'], '["/a", 3]', '/a/../b', 5, true],
  },
  'workloads.allowed-capabilities': {
    key: 'workloads.allowed-capabilities',
    good: [
      { input: ['CAP_NET_ADMIN'], stored: ['CAP_NET_ADMIN'] },
      { input: 'CAP_CHOWN,CAP_KILL', stored: ['CAP_CHOWN', 'CAP_KILL'] },
    ],
    bad: ['NET_ADMIN', ['CAP_FOO'], 'cap_chown', [1]],
  },
  'workloads.require-memory-limit': { key: 'workloads.require-memory-limit', good: bools(), bad: badBools },
  'images.pull-policy': {
    key: 'images.pull-policy',
    good: ['always', 'if-not-present'].map((v) => ({ input: v, stored: v })),
    bad: ['never', 'IfNotPresent', false],
  },
  'images.max-unpacked-size': {
    key: 'images.max-unpacked-size',
    good: ['8Gi', '50Mi', '1G', '1048576'].map((v) => ({ input: v, stored: v })),
    bad: ['lots', '8GB', '-1Gi', '1Ki', '', 8, true],
  },
  'images.pull-timeout': {
    key: 'images.pull-timeout',
    good: ['30m', '2h', '45s', '500ms'].map((v) => ({ input: v, stored: v })),
    bad: ['0s', '5ms', '30', '1d', '-1s', '8760h', 30, false],
  },
  'images.pull-stall-timeout': {
    key: 'images.pull-stall-timeout',
    good: ['30s', '1m', '250ms'].map((v) => ({ input: v, stored: v })),
    bad: ['', 'soon', '1.5s', 0],
  },
  'fleet.etcd.endpoints': {
    key: 'fleet.etcd.endpoints',
    companion: { 'fleet.etcd.ca': '/etc/berth/etcd-ca.pem', 'fleet.etcd.cert': '/etc/berth/etcd.pem', 'fleet.etcd.key': '/etc/berth/etcd-key.pem' },
    good: [
      { input: 'http://127.0.0.1:2379', stored: ['http://127.0.0.1:2379'] },
      { input: ['https://etcd-0.example:2379', 'https://etcd-1.example:2379'], stored: ['https://etcd-0.example:2379', 'https://etcd-1.example:2379'] },
      { input: 'http://[::1]:2379,http://localhost:2379', stored: ['http://[::1]:2379', 'http://localhost:2379'] },
      { input: '', stored: [] },
    ],
    // Plain http to anything but loopback; no port; a path; credentials in the URL; another scheme.
    bad: ['http://10.0.0.5:2379', 'https://etcd.example', 'https://etcd.example:2379/v3', 'https://u:p@etcd.example:2379', 'unix:///run/etcd.sock', ['http://127.0.0.1:1', 'http://127.0.0.1:1'], 5],
  },
  'fleet.etcd.ca': { key: 'fleet.etcd.ca', good: [{ input: '/etc/berth/ca.pem', stored: '/etc/berth/ca.pem' }], bad: ['ca.pem', '', '/a/../b', true] },
  'fleet.etcd.cert': { key: 'fleet.etcd.cert', good: [{ input: '/etc/berth/c.pem', stored: '/etc/berth/c.pem' }], bad: ['c.pem', '/x/'] },
  'fleet.etcd.key': { key: 'fleet.etcd.key', good: [{ input: '/etc/berth/k.pem', stored: '/etc/berth/k.pem' }], bad: ['k.pem', 1], sensitive: true },
  'fleet.group': { key: 'fleet.group', good: ['prod', 'eu-west.1', 'A_b'].map((v) => ({ input: v, stored: v })), bad: ['', 'a/b', '-x', 'a b', 'x'.repeat(129), 3] },
  'fleet.host-id': { key: 'fleet.host-id', good: ['h1', '0f3c2a9e8b7d4c5a'].map((v) => ({ input: v, stored: v })), bad: ['', 'h/1', '.h', true] },
  'fleet.local-overrides': {
    key: 'fleet.local-overrides',
    good: [
      { input: 'selinux.mode,host-containers.admin', stored: ['selinux.mode', 'host-containers.admin'] },
      { input: [], stored: [] },
    ],
    // Not a key or prefix berth knows; not key-shaped; listed twice.
    bad: ['selinux.nope', 'no such key', ['images', 'images']],
  },
  'oci-runtime.binary': {
    key: 'oci-runtime.binary',
    good: ['runc', 'crun', '/usr/local/bin/crun'].map((v) => ({ input: v, stored: v })),
    bad: ['youki', 'Crun', '', 'bin/crun', '/usr/bin/../crun', '/usr/bin/', '/', '/a\0b', true],
  },
  ...Object.fromEntries(['updates.metadata-base-url', 'updates.targets-base-url'].map((key) => [key, {
    key,
    good: ['https://updates.example.com/metadata', 'http://127.0.0.1:8080/m/', 'file:///mnt/repo/metadata'].map((v) => ({ input: v, stored: v })),
    bad: ['ftp://x/y', 'updates.example.com', 'https://u:p@x/m', 'https://x/m?a=1', '', 5],
  }])),
  'updates.version-lock': {
    key: 'updates.version-lock',
    good: ['latest', '1.4.0', '0.0.1'].map((v) => ({ input: v, stored: v })),
    bad: ['newest', '1.4', 'v1.4.0', '01.4.0', '', true],
  },
  'updates.ignore-waves': { key: 'updates.ignore-waves', good: bools(), bad: badBools },
  'updates.seed': {
    key: 'updates.seed',
    good: ['0', '17', '2047'].map((v) => ({ input: v, stored: v })),
    bad: ['2048', '-1', '017', '1.5', 'x', '', 12],
  },
  'updates.reboot-command': {
    key: 'updates.reboot-command',
    good: ['systemctl reboot', 'touch /run/rebooted && systemctl kexec'].map((v) => ({ input: v, stored: v })),
    bad: ['', '   ', ['systemctl', 'reboot'], true],
  },
  'updates.reboot-strategy': {
    key: 'updates.reboot-strategy',
    good: ['immediate', 'etcd'].map((v) => ({ input: v, stored: v })),
    bad: ['locksmith', 'ETCD', '', 1],
  },
  'updates.fleetlock-url': {
    key: 'updates.fleetlock-url',
    good: ['https://fleetlock.example:3333', 'http://127.0.0.1:3333/'].map((v) => ({ input: v, stored: v })),
    bad: ['file:///x', 'fleetlock.example', 'https://u:p@x', 'https://x/?a=1', '', 5],
  },
  'fleet.max-concurrent-reboots': {
    key: 'fleet.max-concurrent-reboots',
    good: ['1', '2', '1000'].map((v) => ({ input: v, stored: v })),
    bad: ['0', '1001', '-1', '01', '1.5', 'x', '', 2],
  },
  'updates.health-checks': {
    key: 'updates.health-checks',
    good: [
      { input: ['control', 'my-agent'], stored: ['control', 'my-agent'] },
      { input: 'db,web-1', stored: ['db', 'web-1'] },
      { input: [], stored: [] },
    ],
    // Not unit names: a path, a space, an empty name, a number.
    bad: [['../etc'], ['a b'], ['control', ''], 5],
  },
  'updates.health-timeout': {
    key: 'updates.health-timeout',
    good: ['90s', '5m', '1h'].map((v) => ({ input: v, stored: v })),
    bad: ['5', 'soon', '0ms', '9d', '', 30],
  },
};

describe('every key', () => {
  test('every registry pattern has validation cases here', () => {
    assert.deepEqual(Object.keys(KEY_CASES).sort(), SETTINGS.map((d) => d.pattern).sort());
  });

  for (const [pattern, c] of Object.entries(KEY_CASES)) {
    test(`${pattern}: good values are accepted and stored typed`, async () => {
      const { store } = await openStore();
      for (const { input, stored } of c.good) {
        await store.set({ ...c.companion, [c.key]: input });
        assert.deepEqual(store.getFlat()[c.key], stored, `input ${JSON.stringify(input)}`);
      }
    });

    test(`${pattern}: bad values are rejected, naming the key, nothing changed`, async () => {
      const { store } = await openStore();
      if (c.companion) await store.set(c.companion);
      for (const input of c.bad) {
        await assertRejectedUnchanged(
          store,
          () => store.set({ ...c.companion, [c.key]: input }),
          (err) => {
            rejectsNaming('invalid', c.key)(err);
            const text = (err as SettingsError).message;
            if (c.sensitive) {
              assert.ok(!text.includes(JSON.stringify(input)) || input === '', `secret echoed: ${text}`);
            } else if (typeof input === 'string' && input.length < 60) {
              assert.ok(text.includes(JSON.stringify(input)) || /item \d+/.test(text), `value not shown: ${text}`);
            }
            return true;
          },
        );
      }
    });
  }

  test('help text lists every key with its hint and description', () => {
    const help = settingsHelp();
    for (const d of SETTINGS) {
      assert.ok(help.includes(d.pattern), d.pattern);
      assert.ok(help.includes(d.description), d.description);
    }
  });

  test('registry keys for a "*" mirror and hosts with ports resolve; bad hosts do not', async () => {
    const { store } = await openStore();
    await store.set({ 'container-registry.mirrors.*': ['https://m.example'] });
    assert.deepEqual(store.get('container-registry.mirrors'), {
      'container-registry': { mirrors: { '*': ['https://m.example'] } },
    });
    for (const key of ['container-registry.insecure.*', 'container-registry.insecure.bad_host', 'container-registry.mirrors.a..b']) {
      await assertRejectedUnchanged(store, () => store.set({ [key]: true }), rejectsNaming('invalid', key));
    }
  });
});

// ---- specific rejections --------------------------------------------------------------------------------

describe('rejections leave everything unchanged', () => {
  test('"maybe" for a boolean', async () => {
    const { store } = await openStore();
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'host-containers.admin.enabled': 'maybe' }),
      (err) => {
        assert.ok(err instanceof SettingsError);
        assert.equal(err.message, 'host-containers.admin.enabled: expected true or false, got "maybe"');
        return true;
      },
    );
  });

  test('unknown key', async () => {
    const { store } = await openStore();
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'host-containers.admin.enabeld': 'true' }),
      (err) => {
        assert.ok(err instanceof SettingsError);
        assert.equal(err.message, 'host-containers.admin.enabeld: unknown setting');
        return true;
      },
    );
    for (const key of ['nope', 'selinux', 'selinux.mode.extra', 'host-containers', 'host-containers.admin']) {
      await assertRejectedUnchanged(store, () => store.set({ [key]: 'x' }), rejectsNaming('invalid', key));
    }
    // Keys that would not print well are quoted.
    await assertRejectedUnchanged(store, () => store.set({ '': 'x' }), rejectsNaming('invalid', '""'));
    await assertRejectedUnchanged(store, () => store.set({ 'a\nb': 'x' }), rejectsNaming('invalid', '"a\\nb"'));
  });

  test('bad base64 user-data (a secret: the value is not echoed)', async () => {
    const { store } = await openStore();
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'host-containers.admin.user-data': 'not base64!' }),
      rejectsNaming('invalid', 'host-containers.admin.user-data', /expected base64.*got \(hidden\)/),
    );
  });

  test('values over 64 KiB are too large', async () => {
    const { store } = await openStore();
    const huge = 'a'.repeat(64 * 1024 + 1);
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'host-containers.admin.source': huge }),
      rejectsNaming('invalid', 'host-containers.admin.source', /too large/),
    );
    const hugeList = Array.from({ length: 5000 }, (_, i) => `/some/long/path/number/${i}`);
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'workloads.host-path-allow-list': hugeList }),
      rejectsNaming('invalid', 'workloads.host-path-allow-list', /too large/),
    );
  });

  test('bad image reference', async () => {
    const { store } = await openStore();
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'host-containers.admin.source': 'Not An Image' }),
      rejectsNaming('invalid', 'host-containers.admin.source', /image reference.*got "Not An Image"/),
    );
  });

  test('bad names: "..", "/", NUL, empty, 1000 chars, 77 chars', async () => {
    const { store } = await openStore();
    for (const name of ['a..b', '..', 'a/b', 'a\0b', 'under_score', 'x'.repeat(1000), 'x'.repeat(77)]) {
      for (const family of ['host-containers', 'bootstrap-containers']) {
        const key = `${family}.${name}.source`;
        const label = name.includes('\0') ? JSON.stringify(key) : key;
        await assertRejectedUnchanged(store, () => store.set({ [key]: 'busybox' }), rejectsNaming('invalid', label, /invalid container name/));
      }
    }
    // 76 is the limit, and it is allowed.
    await store.set({ [`host-containers.${'x'.repeat(76)}.source`]: 'busybox' });
  });

  test('all problems of one request are reported together', async () => {
    const { store } = await openStore();
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'selinux.mode': 'loud', 'images.pull-policy': 'never', 'workloads.runtime': 'docker' }),
      (err) => {
        assert.ok(err instanceof SettingsError);
        assert.deepEqual(err.issues.map((i) => i.key).sort(), ['images.pull-policy', 'selinux.mode']);
        return true;
      },
    );
  });

  test('the same key twice in one request is ambiguous', async () => {
    const { store } = await openStore();
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'selinux.mode': 'off', 'settings.selinux.mode': 'enforce' }),
      rejectsNaming('invalid', 'selinux.mode', /more than once/),
    );
  });

  test('an empty change map is an error', async () => {
    const { store } = await openStore();
    await assert.rejects(store.set({}), (err: unknown) => err instanceof SettingsError && err.code === 'empty');
  });
});

// ---- documents -----------------------------------------------------------------------------------------

describe('apply', () => {
  test('TOML user-data', async () => {
    const { store } = await openStore();
    const result = await store.apply(
      [
        '[settings.host-containers.admin]',
        'enabled = true',
        '[settings.host-containers.debug]',
        'source = "ghcr.io/acme/debug:1"',
        `user-data = "${b64('hi')}"`,
        '[settings.container-registry.mirrors]',
        '"docker.io" = ["https://mirror.example"]',
        '[settings.container-registry.credentials."docker.io"]',
        'username = "u"',
      ].join('\n'),
      'toml',
    );
    assert.deepEqual(store.hostContainers().get('debug'), {
      enabled: false,
      superpowered: false,
      source: 'ghcr.io/acme/debug:1',
      userData: b64('hi'),
    });
    assert.equal(store.hostContainers().get('admin')?.enabled, true);
    assert.deepEqual(store.policy().containerRegistry.mirrors.get('docker.io'), ['https://mirror.example']);
    assert.deepEqual(store.policy().containerRegistry.credentials.get('docker.io'), { username: 'u' });
  });

  test('JSON user-data, including dotted keys and null removal', async () => {
    const { store } = await openStore();
    await store.apply(
      JSON.stringify({
        settings: {
          'host-containers': { foo: { source: 'busybox', enabled: true } },
          'selinux.mode': 'enforce',
          workloads: { 'allowed-capabilities': ['CAP_NET_ADMIN'] },
        },
      }),
      'json',
    );
    assert.equal(store.policy().selinuxMode, 'enforce');
    assert.equal(store.hostContainers().get('foo')?.enabled, true);
    const result = await store.apply(JSON.stringify({ settings: { 'host-containers': { foo: null } } }), 'json');
    assert.equal(store.hostContainers().has('foo'), false);
    assert.deepEqual(result.changedKeys, ['host-containers.foo.enabled', 'host-containers.foo.source']);
  });

  test('a document with one bad entry among good ones applies nothing', async () => {
    const { store } = await openStore();
    const toml = [
      '[settings.host-containers.admin]',
      'enabled = true',
      '[settings.selinux]',
      'mode = "enforce"',
      '[settings.host-containers.control]',
      'superpowered = "maybe"',
    ].join('\n');
    await assertRejectedUnchanged(
      store,
      () => store.apply(toml, 'toml'),
      rejectsNaming('invalid', 'host-containers.control.superpowered', /expected true or false, got "maybe"/),
    );
    const json = JSON.stringify({ settings: { 'images': { 'pull-policy': 'always' }, 'workloads': { 'runtime': 'rkt' } } });
    await assertRejectedUnchanged(store, () => store.apply(json, 'json'), rejectsNaming('invalid', 'workloads.runtime'));
  });

  test('malformed or misshapen documents are rejected', async () => {
    const { store } = await openStore();
    const isCode = (code: string) => (err: unknown) => err instanceof SettingsError && err.code === code;
    await assertRejectedUnchanged(store, () => store.apply('[settings\nx=', 'toml'), isCode('document'));
    await assertRejectedUnchanged(store, () => store.apply('{"settings": ', 'json'), isCode('document'));
    await assertRejectedUnchanged(store, () => store.apply('[1, 2]', 'json'), isCode('document'));
    await assertRejectedUnchanged(store, () => store.apply('{"settings": 3}', 'json'), isCode('document'));
    await assertRejectedUnchanged(store, () => store.apply('[other]\na = 1', 'toml'), rejectsNaming('document', 'other'));
    await assertRejectedUnchanged(store, () => store.apply('{}', 'json'), isCode('empty'));
    await assertRejectedUnchanged(store, () => store.apply('[settings]', 'toml'), isCode('empty'));
    await assertRejectedUnchanged(
      store,
      () => store.apply('[settings.host-containers.admin]\nenabled = 2020-01-01', 'toml'),
      rejectsNaming('invalid', 'host-containers.admin.enabled'),
    );
  });
});

// ---- transactions --------------------------------------------------------------------------------------

describe('transactions', () => {
  test('stage, pending, commit', async () => {
    const { store } = await openStore();
    store.stage('tx1', { 'host-containers.admin.enabled': 'true' });
    store.stage('tx1', { 'selinux.mode': 'off' });
    assert.deepEqual(store.pending('tx1'), [
      { op: 'set', key: 'host-containers.admin.enabled', value: true },
      { op: 'set', key: 'selinux.mode', value: 'off' },
    ]);
    assert.deepEqual(store.transactionNames(), ['tx1']);
    // Staged is not committed.
    assert.equal(store.getFlat()['host-containers.admin.enabled'], false);
    const result = await store.commit('tx1');
    assert.equal(result.generation, 1);
    assert.deepEqual(result.changedKeys, ['host-containers.admin.enabled', 'selinux.mode']);
    assert.equal(store.getFlat()['host-containers.admin.enabled'], true);
    assert.deepEqual(store.pending('tx1'), []);
  });

  test('an invalid change rejects the whole stage call; earlier stages stay', async () => {
    const { store } = await openStore();
    store.stage('tx', { 'selinux.mode': 'off' });
    assert.throws(
      () => store.stage('tx', { 'images.pull-policy': 'always', 'host-containers.admin.enabled': 'maybe' }),
      rejectsNaming('invalid', 'host-containers.admin.enabled'),
    );
    assert.deepEqual(store.pending('tx'), [{ op: 'set', key: 'selinux.mode', value: 'off' }]);
    assert.throws(() => store.stage('fresh', { nope: 1 }), rejectsNaming('invalid', 'nope'));
    assert.deepEqual(store.transactionNames(), ['tx']);
  });

  test('discard drops staged changes', async () => {
    const { store } = await openStore();
    store.stage('tx', { 'selinux.mode': 'off' });
    assert.equal(store.discard('tx'), true);
    assert.equal(store.discard('tx'), false);
    assert.deepEqual(store.pending('tx'), []);
    await assert.rejects(store.commit('tx'), (err: unknown) => err instanceof SettingsError && err.code === 'empty');
    assert.equal(store.getFlat()['selinux.mode'], 'auto');
  });

  test('committing an empty or unknown transaction is an error', async () => {
    const { store } = await openStore();
    await assert.rejects(store.commit('never-staged'), (err: unknown) => {
      assert.ok(err instanceof SettingsError);
      assert.equal(err.code, 'empty');
      assert.match(err.message, /never-staged/);
      return true;
    });
    store.stage('tx', {});
    await assert.rejects(store.commit('tx'), (err: unknown) => err instanceof SettingsError && err.code === 'empty');
    assert.equal(store.generation, 0);
  });

  test('a commit that breaks a whole-state rule is refused and stays staged', async () => {
    const { store } = await openStore();
    store.stage('tx', { 'host-containers.foo.enabled': true });
    await assertRejectedUnchanged(store, () => store.commit('tx'), (err) => {
      assert.ok(err instanceof SettingsError);
      assert.equal(err.message, 'host-containers.foo.source: required');
      return true;
    });
    assert.equal(store.pending('tx').length, 1);
    store.stage('tx', { 'host-containers.foo.source': 'busybox' });
    await store.commit('tx');
    assert.deepEqual(store.hostContainers().get('foo'), { enabled: true, superpowered: false, source: 'busybox' });
  });

  test('transaction names are validated', async () => {
    const { store } = await openStore();
    assert.throws(() => store.stage('bad name', { 'selinux.mode': 'off' }), SettingsError);
    assert.throws(() => store.stage('', { 'selinux.mode': 'off' }), SettingsError);
  });

  test('transactions are independent', async () => {
    const { store } = await openStore();
    store.stage('a', { 'selinux.mode': 'off' });
    store.stage('b', { 'images.pull-policy': 'always' });
    await store.commit('b');
    assert.equal(store.getFlat()['selinux.mode'], 'auto');
    assert.deepEqual(store.pending('a'), [{ op: 'set', key: 'selinux.mode', value: 'off' }]);
  });
});

// ---- changed keys, removal --------------------------------------------------------------------

describe('commit results', () => {
  test('changed keys are effective changes only', async () => {
    const { store } = await openStore();
    const same = await store.set({ 'host-containers.admin.enabled': false, 'selinux.mode': 'auto' });
    assert.deepEqual(same.changedKeys, []);
    assert.equal(same.generation, 1);
    const changed = await store.set({
      'host-containers.control.enabled': false,
      'bootstrap-containers.init.source': 'busybox',
      'workloads.require-memory-limit': true,
      'container-registry.insecure.localhost:5000': true,
      'images.pull-policy': 'always',
    });
    assert.deepEqual(changed.changedKeys, [
      'bootstrap-containers.init.source',
      'container-registry.insecure.localhost:5000',
      'host-containers.control.enabled',
      'images.pull-policy',
      'workloads.require-memory-limit',
    ]);
  });

  test('unset: leaf reverts to default, operator containers are removed, default containers are not', async () => {
    const { store } = await openStore();
    await store.set({ 'host-containers.admin.enabled': true, 'host-containers.foo.source': 'busybox', 'host-containers.foo.enabled': true });
    const leaf = await store.unset(['host-containers.admin.enabled']);
    assert.deepEqual(leaf.changedKeys, ['host-containers.admin.enabled']);
    assert.equal(store.getFlat()['host-containers.admin.enabled'], false);

    const removed = await store.unset(['host-containers.foo']);
    assert.deepEqual(removed.changedKeys, ['host-containers.foo.enabled', 'host-containers.foo.source']);
    assert.deepEqual(store.get('host-containers.foo'), {});

    await assertRejectedUnchanged(
      store,
      () => store.unset(['host-containers.admin']),
      rejectsNaming('invalid', 'host-containers.admin', /defined by the defaults; set host-containers.admin.enabled=false instead/),
    );
    await assertRejectedUnchanged(store, () => store.unset(['host-containers']), rejectsNaming('invalid', 'host-containers'));
    await assertRejectedUnchanged(store, () => store.unset(['host-containers.a/b']), rejectsNaming('invalid', 'host-containers.a/b'));
    await assertRejectedUnchanged(store, () => store.unset(['nope']), rejectsNaming('invalid', 'nope'));
  });

  test('removing one registry host does not touch a host it is a text prefix of', async () => {
    const { store } = await openStore();
    await store.set({
      'container-registry.credentials.docker.username': 'a',
      'container-registry.credentials.docker.io.username': 'b',
    });
    await store.unset(['container-registry.credentials.docker']);
    assert.deepEqual(store.getFlat('container-registry'), { 'container-registry.credentials.docker.io.username': 'b' });
  });

  test('onCommit listeners get every result in order and can unsubscribe', async () => {
    const { store } = await openStore();
    const seen: number[] = [];
    const off = store.onCommit((r) => seen.push(r.generation));
    store.onCommit(() => {
      throw new Error('a broken listener must not fail the commit');
    });
    await store.set({ 'selinux.mode': 'off' });
    await store.set({ 'selinux.mode': 'enforce' });
    off();
    await store.set({ 'selinux.mode': 'auto' });
    assert.deepEqual(seen, [1, 2]);
  });
});

// ---- getters -------------------------------------------------------------------------------------------

describe('getters', () => {
  test('get nests from the root; prefixes work on key boundaries only', async () => {
    const { store } = await openStore();
    assert.deepEqual(store.get('host-containers.admin'), {
      'host-containers': { admin: { enabled: false, source: 'localhost/berth/admin:latest', superpowered: true } },
    });
    assert.deepEqual(store.get('selinux.mode'), { selinux: { mode: 'auto' } });
    assert.deepEqual(store.get('settings.selinux'), { selinux: { mode: 'auto' } });
    assert.deepEqual(store.get('host-containers.adm'), {});
    assert.deepEqual(store.get('nothing.here'), {});
    assert.deepEqual(store.get('host-containers.nosuch'), {});
    assert.deepEqual(Object.keys(store.get()).sort(), ['host-containers', 'images', 'oci-runtime', 'selinux', 'workloads']);
  });

  test('getFlat returns dotted keys, and copies', async () => {
    const { store } = await openStore();
    assert.deepEqual(store.getFlat('selinux'), { 'selinux.mode': 'auto' });
    const flat = store.getFlat('workloads');
    (flat['workloads.allowed-capabilities'] as string[]).push('CAP_SYS_ADMIN');
    assert.ok(!(store.getFlat()['workloads.allowed-capabilities'] as string[]).includes('CAP_SYS_ADMIN'));
  });

  test('typed accessors apply fallbacks', async () => {
    const { store } = await openStore();
    await store.set({ 'host-containers.bare.source': 'busybox', 'bootstrap-containers.b.source': 'busybox' });
    assert.deepEqual(store.hostContainers().get('bare'), { enabled: false, superpowered: false, source: 'busybox' });
    assert.deepEqual(store.bootstrapContainers().get('b'), { source: 'busybox', mode: 'off', essential: false });
    assert.deepEqual([...store.hostContainers().keys()], ['admin', 'bare', 'control']);
    const policy = store.policy();
    assert.equal(policy.selinuxMode, 'auto');
    assert.equal(policy.workloads.runtime, 'containerd');
    assert.equal(policy.images.pullPolicy, 'if-not-present');
    assert.equal(policy.images.pullTimeoutMs, 30 * 60_000);
    assert.equal(policy.images.pullStallTimeoutMs, 30_000);
    assert.equal(policy.containerRegistry.caBundle, undefined);
  });
});

// ---- defaults -------------------------------------------------------------------------------------------

describe('defaults', () => {
  test('the shipped defaults file has the documented values', async () => {
    const { store } = await openStore();
    assert.deepEqual(store.hostContainers().get('admin'), { enabled: false, superpowered: true, source: 'localhost/berth/admin:latest' });
    assert.deepEqual(store.hostContainers().get('control'), { enabled: true, superpowered: false, source: 'localhost/berth/control:latest' });
    assert.equal(store.getFlat()['selinux.mode'], 'auto');
    assert.equal(store.getFlat()['workloads.runtime'], 'containerd');
  });

  test('a default changed by an upgrade shows through where the operator did not set it', async () => {
    const dir = await tempDir();
    const v1 = join(dir, 'v1.toml');
    const v2 = join(dir, 'v2.toml');
    await writeFile(v1, '[settings.host-containers.admin]\nsource = "localhost/admin:1"\n[settings.selinux]\nmode = "auto"\n');
    await writeFile(
      v2,
      '[settings.host-containers.admin]\nsource = "localhost/admin:2"\n[settings.selinux]\nmode = "enforce"\n[settings.images]\npull-policy = "always"\n',
    );
    const stateDir = join(dir, 'state');
    const { store } = await openStore({ stateDir, defaultsFile: v1 });
    await store.set({ 'selinux.mode': 'off', 'host-containers.admin.enabled': true });
    const upgraded = (await openStore({ stateDir, defaultsFile: v2 })).store;
    assert.deepEqual(upgraded.getFlat(), {
      'host-containers.admin.enabled': true,
      'host-containers.admin.source': 'localhost/admin:2',
      'images.pull-policy': 'always',
      'selinux.mode': 'off',
    });
    const file = JSON.parse(await readFile(settingsFilePath(stateDir), 'utf8'));
    assert.deepEqual(file.settings, { 'host-containers': { admin: { enabled: true } }, selinux: { mode: 'off' } });
  });

  test('invalid or incomplete defaults files are refused at open', async () => {
    const dir = await tempDir();
    const isLoad = (pattern: RegExp) => (err: unknown) =>
      err instanceof SettingsError && err.code === 'load' && pattern.test(err.message);
    const bad = join(dir, 'bad.toml');
    await writeFile(bad, '[settings.selinux]\nmode = "loud"\n');
    await assert.rejects(openStore({ defaultsFile: bad }), isLoad(/selinux\.mode: expected one of/));
    await writeFile(bad, '[settings.host-containers.x]\nenabled = true\n');
    await assert.rejects(openStore({ defaultsFile: bad }), isLoad(/host-containers\.x\.source: required/));
    await assert.rejects(openStore({ defaultsFile: join(dir, 'missing.toml') }), isLoad(/ENOENT/));
  });
});

// ---- persistence ---------------------------------------------------------------------------------------

describe('persistence', () => {
  test('round trip: reopening gives the same state and generation', async () => {
    const { store, stateDir } = await openStore();
    await store.set({
      'host-containers.admin.enabled': true,
      'host-containers.debug.source': `ghcr.io/a/debug@${DIGEST}`,
      'host-containers.debug.user-data': b64('x'),
      'bootstrap-containers.init.source': 'busybox',
      'bootstrap-containers.init.mode': 'once',
      'container-registry.mirrors.docker.io': ['https://m.example'],
      'container-registry.credentials.registry.example.com:5000.password': 'pw',
      'workloads.host-path-allow-list': ['/data'],
    });
    await store.unset(['host-containers.admin.enabled']);
    const reopened = (await openStore({ stateDir })).store;
    assert.deepEqual(reopened.get(), store.get());
    assert.equal(reopened.generation, 2);
  });

  test('file format: version, generation, operator values only, mode 0600', async () => {
    const { store, stateDir } = await openStore();
    await store.set({ 'container-registry.mirrors.docker.io': 'https://m.example', 'selinux.mode': 'off' });
    const path = settingsFilePath(stateDir);
    assert.equal(path, join(stateDir, 'settings', 'settings.json'));
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), {
      version: 1,
      generation: 1,
      settings: { 'container-registry': { mirrors: { 'docker.io': ['https://m.example'] } }, selinux: { mode: 'off' } },
    });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  test('leftover temp files are ignored and removed on load', async () => {
    const { store, stateDir } = await openStore();
    await store.set({ 'selinux.mode': 'off' });
    const path = settingsFilePath(stateDir);
    const leftover = `${tempFilePrefix(path)}999-deadbeef`;
    await writeFile(join(stateDir, 'settings', leftover), '{"version":1,"generation":7,"settings":{"selinux":{"mode":"enf');
    const reopened = (await openStore({ stateDir })).store;
    assert.equal(reopened.getFlat()['selinux.mode'], 'off');
    assert.deepEqual(await readdir(join(stateDir, 'settings')), ['settings.json']);
  });

  test('a corrupt, foreign-version or invalid settings file is refused with its path', async () => {
    const dir = await tempDir();
    await openStore({ stateDir: dir });
    const path = settingsFilePath(dir);
    const isLoad = (pattern: RegExp) => (err: unknown) =>
      err instanceof SettingsError && err.code === 'load' && err.message.includes(path) && pattern.test(err.message);
    await writeFile(path, '{"version":1,');
    await assert.rejects(openStore({ stateDir: dir }), isLoad(/not valid JSON/));
    await writeFile(path, '{"version":2,"generation":1,"settings":{}}');
    await assert.rejects(openStore({ stateDir: dir }), isLoad(/version 2/));
    await writeFile(path, '{"version":1,"generation":1,"settings":{"selinux":{"mode":"loud"}}}');
    await assert.rejects(openStore({ stateDir: dir }), isLoad(/selinux\.mode/));
  });
});

// ---- concurrency and failures --------------------------------------------------------------------------

describe('serialised commits and write failures', () => {
  test('concurrent sets never interleave and none is lost', async () => {
    let active = 0;
    let maxActive = 0;
    const writer: FileWriter = async (path, data) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise((resolve) => setTimeout(resolve, 1));
      await writeFileAtomic(path, data);
      active -= 1;
    };
    const { store, stateDir } = await openStore({ writer });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.set({ 'host-containers.c.source': 'busybox', 'host-containers.c.user-data': b64(String(i)) }),
      ),
    );
    assert.equal(maxActive, 1);
    assert.deepEqual(results.map((r) => r.generation), Array.from({ length: 40 }, (_, i) => i + 1));
    assert.equal(store.getFlat()['host-containers.c.user-data'], b64('39'));
    const reopened = (await openStore({ stateDir })).store;
    assert.equal(reopened.generation, 40);
    assert.equal(reopened.getFlat()['host-containers.c.user-data'], b64('39'));
  });

  test('concurrent transaction commits and sets are serialised too', async () => {
    const { store } = await openStore();
    store.stage('a', { 'selinux.mode': 'off' });
    const [first, second, third] = await Promise.all([
      store.set({ 'selinux.mode': 'enforce' }),
      store.commit('a'),
      store.set({ 'images.pull-policy': 'always' }),
    ]);
    assert.deepEqual([first.generation, second.generation, third.generation], [1, 2, 3]);
    assert.equal(store.getFlat()['selinux.mode'], 'off');
  });

  test('ENOSPC: memory and disk stay at the old state, the error is clear', async () => {
    let fail = false;
    const writer: FileWriter = async (path, data) => {
      if (fail) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      await writeFileAtomic(path, data);
    };
    const { store, stateDir } = await openStore({ writer });
    await store.set({ 'selinux.mode': 'off' });
    const diskBefore = await readFile(settingsFilePath(stateDir), 'utf8');
    fail = true;
    await assertRejectedUnchanged(store, () => store.set({ 'selinux.mode': 'enforce' }), (err) => {
      assert.ok(err instanceof SettingsError);
      assert.equal(err.code, 'persist');
      assert.match(err.message, /not saved, nothing changed.*ENOSPC|no space left/);
      return true;
    });
    store.stage('tx', { 'images.pull-policy': 'always' });
    await assert.rejects(store.commit('tx'), (err: unknown) => err instanceof SettingsError && err.code === 'persist');
    assert.equal(store.pending('tx').length, 1, 'a failed commit keeps the transaction staged');
    assert.equal(await readFile(settingsFilePath(stateDir), 'utf8'), diskBefore);
    fail = false;
    const retried = await store.commit('tx');
    assert.equal(retried.generation, 2);
  });

  test('a real failing write (target replaced by a directory) changes nothing in memory', async () => {
    const { store, stateDir } = await openStore();
    await store.set({ 'selinux.mode': 'off' });
    const path = settingsFilePath(stateDir);
    await rm(path);
    await mkdir(path);
    await writeFile(join(path, 'x'), 'x');
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'selinux.mode': 'enforce' }),
      (err) => err instanceof SettingsError && err.code === 'persist' && err.message.includes('rename'),
    );
    assert.deepEqual(
      (await readdir(join(stateDir, 'settings'))).filter((n) => n.includes('.tmp-')),
      [],
      'no temp file left behind',
    );
  });

  test('new file visible but directory fsync failed: the old file is restored', async () => {
    let failOnce = false;
    const writer: FileWriter = async (path, data) => {
      await writeFileAtomic(path, data);
      if (failOnce) {
        failOnce = false;
        throw new AtomicWriteError(path, 'sync-dir', true, new Error('EIO'));
      }
    };
    const { store, stateDir } = await openStore({ writer });
    await store.set({ 'selinux.mode': 'off' });
    failOnce = true;
    await assertRejectedUnchanged(
      store,
      () => store.set({ 'selinux.mode': 'enforce' }),
      (err) => err instanceof SettingsError && err.code === 'persist' && /restored/.test(err.message),
    );
    const reopened = (await openStore({ stateDir })).store;
    assert.equal(reopened.getFlat()['selinux.mode'], 'off');
    assert.equal(reopened.generation, 1);
  });

  test('...and if restoring fails too, memory follows the disk and the result warns', async () => {
    let failing = false;
    const writer: FileWriter = async (path, data) => {
      if (!failing) return writeFileAtomic(path, data);
      if (data.includes('"enforce"')) {
        await writeFileAtomic(path, data);
        throw new AtomicWriteError(path, 'sync-dir', true, new Error('EIO'));
      }
      throw new Error('EIO again');
    };
    const { store, stateDir } = await openStore({ writer });
    failing = true;
    const result = await store.set({ 'selinux.mode': 'enforce' });
    assert.match(result.warning ?? '', /durability is unconfirmed/);
    assert.equal(store.getFlat()['selinux.mode'], 'enforce');
    assert.equal((await openStore({ stateDir })).store.getFlat()['selinux.mode'], 'enforce');
  });
});

// ---- CLI helpers ---------------------------------------------------------------------------------------

describe('parseAssignments', () => {
  test('splits on the first "=" and reports malformed arguments by key', () => {
    assert.deepEqual(parseAssignments(['a.b=c=d', 'x=']), { 'a.b': 'c=d', x: '' });
    assert.throws(() => parseAssignments(['novalue', 'a=1', 'a=2']), (err: unknown) => {
      assert.ok(err instanceof SettingsError);
      assert.deepEqual(err.issues.map((i) => i.key), ['novalue', 'a']);
      return true;
    });
  });

  test('text values are parsed per key type by set', async () => {
    const { store } = await openStore();
    await store.set(
      parseAssignments([
        'host-containers.admin.enabled=true',
        'workloads.allowed-capabilities=CAP_CHOWN,CAP_KILL',
        'workloads.host-path-allow-list=["/data"]',
        'selinux.mode=off',
      ]),
    );
    assert.deepEqual(store.getFlat(), {
      ...store.getFlat(),
      'host-containers.admin.enabled': true,
      'workloads.allowed-capabilities': ['CAP_CHOWN', 'CAP_KILL'],
      'workloads.host-path-allow-list': ['/data'],
      'selinux.mode': 'off',
    });
  });
});

// ---- property ------------------------------------------------------------------------------------------

describe('property: random changes are accepted whole or rejected whole with keyed errors', () => {
  const validKey = fc.constantFrom(
    ...Object.values(KEY_CASES).map((c) => c.key),
    'host-containers.admin.enabled',
    'host-containers.control.source',
    'settings.selinux.mode',
  );
  const typoKey = validKey.chain((key) =>
    fc.nat({ max: key.length - 1 }).map((i) => `${key.slice(0, i)}${key.slice(i + 1)}`),
  );
  const nameKey = fc
    .constantFrom('', '..', 'a/b', 'a.b', 'ok-name', 'x'.repeat(80), 'ünï', 'a\0b')
    .chain((name) => fc.constantFrom(`host-containers.${name}.source`, `bootstrap-containers.${name}.mode`));
  const key = fc.oneof(validKey, validKey, typoKey, nameKey, fc.string({ maxLength: 20 }));
  const goodValue = fc.constantFrom(
    ...Object.values(KEY_CASES).flatMap((c) => c.good.map((g) => g.input)),
  );
  const badValue = fc.constantFrom(...Object.values(KEY_CASES).flatMap((c) => c.bad));
  const value = fc.oneof(
    goodValue,
    goodValue,
    badValue,
    fc.boolean(),
    fc.string({ maxLength: 12 }),
    fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
    fc.integer(),
    fc.constant(null),
  );
  /** Builds an object without going through `__proto__` setters (random keys may be anything). */
  const merge = (parts: ReadonlyArray<Readonly<Record<string, unknown>>>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const part of parts) {
      for (const [k, v] of Object.entries(part)) {
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
    }
    return out;
  };
  // A valid change together with what it must store.
  const goodChange = fc.constantFrom(...Object.values(KEY_CASES)).chain((c) =>
    fc.constantFrom(...c.good).map((g) => ({
      changes: { ...c.companion, [c.key]: g.input },
      expected: { ...c.companion, [c.key]: g.stored },
    })),
  );
  const randomChange = fc.tuple(key, value).map(([k, v]) => ({ [k]: v }));
  const request = fc.record({
    good: fc.array(goodChange, { maxLength: 3 }),
    random: fc.array(randomChange, { maxLength: 2 }),
    via: fc.constantFrom('set', 'json', 'toml'),
  }).filter((r) => r.good.length + r.random.length > 0);

  test('300 runs, fixed seed', async (t) => {
    let writes = 0;
    const { store } = await openStore({ writer: async (path, data) => (writes++, writeFileAtomic(path, data)) });
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(request, async ({ good, random, via }) => {
        const changes = merge([...good.map((g) => g.changes), ...random]);
        const expected = merge(good.map((g) => g.expected));
        const before = store.getFlat();
        const generation = store.generation;
        const writesBefore = writes;
        const run = (): Promise<unknown> => {
          if (via === 'set') return store.set(changes);
          if (via === 'json') return store.apply(JSON.stringify({ settings: changes }), 'json');
          const tomlSafe = merge([Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== null))]);
          return store.apply(toToml({ settings: tomlSafe }), 'toml');
        };
        try {
          await run();
          accepted += 1;
          // A commit that stores something new is written and is a new generation; one that stores only
          // what is already stored writes nothing and leaves the generation (and every value) as it was.
          if (writes > writesBefore) assert.equal(store.generation, generation + 1);
          else {
            assert.equal(store.generation, generation);
            assert.deepEqual(store.getFlat(), before);
          }
          if (random.length === 0) {
            for (const [k, v] of Object.entries(expected)) assert.deepEqual(store.getFlat()[k], v, k);
          }
        } catch (err) {
          // Valid changes alone must always be accepted.
          assert.ok(random.length > 0, `valid changes rejected: ${String(err)}`);
          rejected += 1;
          assert.ok(err instanceof SettingsError, String(err));
          assert.deepEqual(store.getFlat(), before);
          assert.equal(store.generation, generation);
          if (err.code === 'empty') return; // a TOML document whose only entries were nulls
          assert.ok(['invalid', 'document'].includes(err.code), err.message);
          assert.ok(err.issues.length > 0);
          for (const issue of err.issues) {
            assert.ok(issue.key.length > 0, `issue without key: ${issue.message}`);
            assert.ok(err.message.includes(`${issue.key}: ${issue.message}`), err.message);
          }
        }
      }),
      { numRuns: 300, seed: 0x5e77 },
    );
    t.diagnostic(`accepted ${accepted}, rejected ${rejected}`);
    // The generators must exercise both outcomes, or the property proves little.
    assert.ok(accepted > 20, `accepted ${accepted}`);
    assert.ok(rejected > 20, `rejected ${rejected}`);
  });
});

test('a set of the values already stored writes nothing, keeps the generation, and still tells listeners', async () => {
  let writes = 0;
  const { store, stateDir } = await openStore({ writer: async (path, data) => (writes++, writeFileAtomic(path, data)) });
  const first = await store.set({ 'images.pull-policy': 'always' });
  assert.deepEqual([first.generation, first.changedKeys, writes], [1, ['images.pull-policy'], 1]);
  const heard: number[] = [];
  store.onCommit((r) => heard.push(r.generation));
  const again = await store.set({ 'images.pull-policy': 'always' });
  assert.deepEqual([again.generation, again.changedKeys, writes, heard], [1, [], 1, [1]]);
  // Pinning a default is a change of what is stored (it survives a change of the shipped defaults).
  const pinned = await store.set({ 'selinux.mode': 'auto' });
  assert.deepEqual([pinned.generation, pinned.changedKeys, writes], [2, [], 2]);
  assert.equal((await openStore({ stateDir })).store.generation, 2);
});
