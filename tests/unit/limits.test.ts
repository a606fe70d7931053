// Issue 14 items 4 and 6: size limits on every request that becomes a unit, linear spec building, paged
// workload lists, bounded settings, and deep documents refused with a clear error (never a stack overflow).
// No timings here: the oversized cases are asserted on their error, the big-but-allowed ones on their result.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseUnit, validateUnit, KNOWN_CAPABILITIES } from '../../src/units/index.js';
import {
  ARG_MAX_BYTES, ARGS_MAX_ITEMS, ENV_MAX_VARS, ENV_NAME_MAX_BYTES, ENV_TOTAL_MAX_BYTES, ENV_VALUE_MAX_BYTES,
  LIST_MAX_ITEMS, MOUNTS_MAX, PATH_MAX_BYTES, UNIT_TEXT_MAX_BYTES,
} from '../../src/units/limits.js';
import { buildSpec, type SpecContext } from '../../src/ocispec/index.js';
import { checkWorkload, type WorkloadPolicy } from '../../src/workloads/policy.js';
import type { WorkloadRequest } from '../../src/workloads/types.js';
import { DEPTH_MESSAGE, jsonTextTooDeep, MAX_DOCUMENT_DEPTH, valueTooDeep } from '../../src/util/depth.js';
import { SettingsError, SettingsStore, SETTINGS_MAX_BYTES, SETTINGS_MAX_KEYS } from '../../src/settings/index.js';
import { settingsApi } from '../../src/daemon/api-adapters.js';
import { validateFile } from '../../src/cli/validate.js';
import { listPage, ListTooLargeError, PAGE_MAX_BYTES, UNPAGED_MAX_BYTES } from '../../src/api/workloads-service.js';
import { workloadFromWire } from '../../src/wire/workloads.js';
import { grpcCodeOf, toStatus } from '../../src/api/errors.js';
import type { WorkloadInfo } from '../../src/workloads/manager.js';
import { status } from '@grpc/grpc-js';

const SHIPPED_DEFAULTS = fileURLToPath(new URL('../../../rootfs/usr/share/berth/settings.toml', import.meta.url));
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-limits-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const BASE = { name: 'demo', class: 'workload', image: 'registry.example.com/app:1' } as const;

function errorsOf(raw: Record<string, unknown>): Array<{ path: string; message: string }> {
  const r = validateUnit({ ...BASE, ...raw });
  assert.equal(r.ok, false, 'expected a refusal');
  return r.ok ? [] : r.errors;
}

function manyEnv(n: number, value = 'v'): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < n; i++) env[`VAR_${i}`] = value;
  return env;
}

const CTX: SpecContext = {
  containerId: 'demo', namespace: 'berth', stateDir: '/var/lib/berth', apiSocketPath: '/run/berth/api.sock',
  selinux: { mode: 'off', active: false }, mcs: [1, 2], hostPathAllowList: [],
  imageConfig: { env: ['PATH=/bin', 'VAR_7=image', 'LANG=C'], entrypoint: ['/entry'], cmd: [], workingDir: '/', user: '' },
};

describe('unit limits', () => {
  it(`builds a spec with ${ENV_MAX_VARS} variables: image entries replaced in place, the rest appended in order`, () => {
    const r = validateUnit({ ...BASE, env: manyEnv(ENV_MAX_VARS) });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors.slice(0, 3)));
    const built = buildSpec(r.unit, CTX);
    assert.ok(built.ok);
    const env = built.spec.process.env;
    assert.equal(env.length, 2 + ENV_MAX_VARS);
    assert.deepEqual(env.slice(0, 3), ['PATH=/bin', 'VAR_7=v', 'LANG=C']);
    assert.equal(env[3], 'VAR_0=v');
    assert.equal(env.at(-1), `VAR_${ENV_MAX_VARS - 1}=v`);
    assert.equal(env.filter((e) => e.startsWith('VAR_7=')).length, 1);
  });

  it('refuses 30,000 variables naming env, in one error', () => {
    const errors = errorsOf({ env: manyEnv(30_000) });
    assert.deepEqual(errors, [{ path: 'env', message: `at most ${ENV_MAX_VARS} variables, got 30000` }]);
  });

  it('names the field of every other limit', () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['env value', { env: { FOO: 'x'.repeat(70_000) } }, 'env.FOO', new RegExp(`^value is 70000 bytes, at most ${ENV_VALUE_MAX_BYTES}$`)],
      ['env name', { env: { [`N${'x'.repeat(ENV_NAME_MAX_BYTES)}`]: '1' } }, `env.N${'x'.repeat(63)}`, /^name is \d+ bytes, at most 1024$/],
      ['env total', { env: manyEnv(40, 'x'.repeat(30_000)) }, 'env', new RegExp(`^NAME=value strings total \\d+ bytes, at most ${ENV_TOTAL_MAX_BYTES}$`)],
      ['command count', { command: Array(ARGS_MAX_ITEMS + 1).fill('a') }, 'command', /^at most 4096 items, got 4097$/],
      ['args count', { args: Array(30_000).fill('a') }, 'args', /^at most 4096 items, got 30000$/],
      ['args item', { args: ['x'.repeat(ARG_MAX_BYTES + 1)] }, 'args[0]', /^is 131073 bytes, at most 131072$/],
      ['args total', { args: Array(9).fill('x'.repeat(ARG_MAX_BYTES)) }, 'args', /^items total \d+ bytes, at most 1048576$/],
      ['mounts', { mounts: Array(MOUNTS_MAX + 1).fill({ type: 'tmpfs', destination: '/x' }) }, 'mounts', /^at most 256 mounts, got 257$/],
      ['mount path', { mounts: [{ type: 'tmpfs', destination: `/${'a'.repeat(PATH_MAX_BYTES)}` }] }, 'mounts[0].destination', /^path is 4097 bytes, at most 4096$/],
      ['cap add', { capabilities: { add: Array(LIST_MAX_ITEMS + 1).fill('CHOWN') } }, 'capabilities.add', /^at most 256 items, got 257$/],
      ['devices', { devices: Array(LIST_MAX_ITEMS + 1).fill({ path: '/dev/null', permissions: 'r' }) }, 'devices', /^at most 256 items/],
      ['depends-on', { 'depends-on': Array(LIST_MAX_ITEMS + 1).fill('x') }, 'depends-on', /^at most 256 items/],
      ['mount options', { mounts: [{ type: 'tmpfs', destination: '/x', options: Array(LIST_MAX_ITEMS + 1).fill('ro') }] }, 'mounts[0].options', /^at most 256 items/],
      ['health command', { class: 'host', health: { command: Array(ARGS_MAX_ITEMS + 1).fill('a') } }, 'health.command', /^at most 4096 items/],
      ['whole unit', { env: manyEnv(31, 'x'.repeat(32_000)), command: Array(8).fill('y'.repeat(128_000)), args: Array(8).fill('y'.repeat(128_000)) }, '(unit)',
        new RegExp(`^command, args, env, mounts and health.command total \\d+ bytes, at most ${UNIT_TEXT_MAX_BYTES}$`)],
    ];
    for (const [what, raw, field, message] of cases) {
      const errors = errorsOf(raw);
      assert.equal(errors.length, 1, `${what}: ${JSON.stringify(errors.slice(0, 3)).slice(0, 400)}`);
      assert.equal(errors[0]!.path, field, what);
      assert.match(errors[0]!.message, message, what);
    }
  });

  it('keeps duplicate checks working (now with sets)', () => {
    const errors = errorsOf({ class: 'host', capabilities: { add: ['CHOWN', 'CHOWN'], drop: ['KILL', 'KILL'] }, 'depends-on': ['a', 'a'] });
    assert.deepEqual(errors.map((e) => e.path).sort(), ['capabilities.add[1]', 'capabilities.drop[1]', 'depends-on[1]']);
    const mountErrors = errorsOf({ mounts: [{ type: 'tmpfs', destination: '/x', options: ['ro', 'nodev', 'ro'] }] });
    assert.deepEqual(mountErrors, [{ path: 'mounts[0].options', message: '"ro" is listed twice' }]);
  });

  it('workload requests get the same limits, named by request field', () => {
    const policy: WorkloadPolicy = {
      hostPathAllowList: ['/srv'], allowedCapabilities: ['CAP_CHOWN'], requireMemoryLimit: false, hostCapabilities: KNOWN_CAPABILITIES,
      stateDir: '/var/lib/berth', runDir: '/run/berth', apiSocketPath: '/run/berth/api.sock',
    };
    const req = (over: Partial<WorkloadRequest>): WorkloadRequest => ({
      name: 'web', image: 'localhost/web:1', command: [], env: {}, mounts: [], restart: 'always', capAdd: [],
      privileged: false, hostNetwork: false, hostPid: false, devices: [], ...over,
    });
    const refusal = (over: Partial<WorkloadRequest>): { field: string; message: string }[] => {
      const r = checkWorkload(req(over), policy);
      assert.equal(r.ok, false);
      return r.ok ? [] : r.violations;
    };
    assert.deepEqual(refusal({ env: manyEnv(30_000) }), [{ field: 'env', message: 'at most 4096 variables, got 30000' }]);
    assert.deepEqual(refusal({ capAdd: Array(30_000).fill('CHOWN') }), [{ field: 'cap_add', message: 'at most 256 items, got 30000' }]);
    assert.deepEqual(refusal({ mounts: Array(30_000).fill({ source: '/srv', destination: '/d', readOnly: true }) }), [{ field: 'mounts', message: 'at most 256 mounts, got 30000' }]);
    assert.deepEqual(refusal({ devices: Array(300).fill('/dev/null') }).map((v) => v.field), ['devices']);
    assert.equal(refusal({ command: Array(30_000).fill('x') })[0]?.field, 'command');
    const longMounts = Array.from({ length: 20 }, (_, i) => ({ source: `/srv/${'s'.repeat(4000)}`, destination: `/d${i}${'d'.repeat(4000)}`, readOnly: true }));
    assert.equal(refusal({ env: manyEnv(31, 'x'.repeat(32_000)), command: Array(8).fill('y'.repeat(128_000)), mounts: longMounts })[0]?.field, 'spec');
  });
});

// ---- deep documents ----------------------------------------------------------------------------------

const N = 10_000;
const deepTomlDocs = (prefix: string): Record<string, string> => ({
  'array-of-tables headers': `[[${prefix}${Array(N).fill('a').join('.')}]]\nx = 1\n`,
  'table headers': `[${prefix}${Array(N).fill('a').join('.')}]\nx = 1\n`,
  'inline tables': `${prefix === '' ? '' : `[${prefix.slice(0, -1)}]\n`}x = ${'{a = '.repeat(N)}1${' }'.repeat(N)}\n`,
  arrays: `${prefix === '' ? '' : `[${prefix.slice(0, -1)}]\n`}x = ${'['.repeat(N)}${']'.repeat(N)}\n`,
  'dotted keys': `${prefix === '' ? '' : `[${prefix.slice(0, -1)}]\n`}${Array(N).fill('a').join('.')} = 1\n`,
});
const deepJson = `{"settings":${'{"a":'.repeat(N)}1${'}'.repeat(N)}}`;
const deepJsonArray = `{"settings":{"workloads":{"host-path-allow-list":${'['.repeat(N)}${']'.repeat(N)}}}}`;

describe('deep documents', () => {
  it('depth helpers: iterative, exact at the limit', () => {
    const nested = (n: number): unknown => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = i % 2 === 0 ? { a: v } : [v];
      return v;
    };
    assert.equal(valueTooDeep(nested(MAX_DOCUMENT_DEPTH)), false);
    assert.equal(valueTooDeep(nested(MAX_DOCUMENT_DEPTH + 1)), true);
    assert.equal(valueTooDeep(nested(100_000)), true);
    assert.equal(jsonTextTooDeep('['.repeat(MAX_DOCUMENT_DEPTH) + ']'.repeat(MAX_DOCUMENT_DEPTH)), false);
    assert.equal(jsonTextTooDeep('['.repeat(MAX_DOCUMENT_DEPTH + 1)), true);
    // Brackets inside strings (escaped quotes too) do not count.
    assert.equal(jsonTextTooDeep(`["${'['.repeat(1000)}\\"${'{'.repeat(1000)}"]`), false);
  });

  for (const [what, text] of Object.entries(deepTomlDocs(''))) {
    it(`unit file: 10,000-deep ${what} → one error, no stack overflow`, () => {
      const r = parseUnit(`name = "demo"\nclass = "host"\nimage = "a:1"\n${text}`, 'demo.toml');
      assert.equal(r.ok, false);
      assert.deepEqual(!r.ok && r.errors.map((e) => `${e.path}: ${e.message}`), [`(unit): ${DEPTH_MESSAGE}`]);
    });
  }

  it('settings apply (TOML and JSON), set --json and list values: refused with the depth message', async () => {
    const store = await SettingsStore.open({ stateDir: await tempDir(), defaultsFile: SHIPPED_DEFAULTS });
    const api = settingsApi(store);
    const before = JSON.stringify(store.get());
    for (const [what, text] of Object.entries(deepTomlDocs('settings.'))) {
      await assert.rejects(store.apply(text, 'toml'), (e: unknown) => e instanceof SettingsError && e.code === 'document' && e.message === DEPTH_MESSAGE, what);
      await assert.rejects(api.apply(text, 'toml'), (e: unknown) => grpcCodeOf(e) === status.INVALID_ARGUMENT && /^document: document nests deeper than 64 levels$/.test((e as Error).message), what);
    }
    for (const doc of [deepJson, deepJsonArray]) {
      await assert.rejects(api.apply(doc, 'json'), (e: unknown) => grpcCodeOf(e) === status.INVALID_ARGUMENT && (e as Error).message.includes(DEPTH_MESSAGE));
      await assert.rejects(api.setJson(doc), (e: unknown) => grpcCodeOf(e) === status.INVALID_ARGUMENT && (e as Error).message === `json: ${DEPTH_MESSAGE}`);
    }
    const deepList = `${'['.repeat(N)}${']'.repeat(N)}`;
    await assert.rejects(api.set({ 'workloads.host-path-allow-list': deepList }),
      (e: unknown) => grpcCodeOf(e) === status.INVALID_ARGUMENT && (e as Error).message.startsWith(`workloads.host-path-allow-list: ${DEPTH_MESSAGE}`));
    assert.equal(JSON.stringify(store.get()), before);
  });

  it('berthctl validate: deep unit files and settings documents get the depth error', async () => {
    const dir = await tempDir();
    const unitsDir = path.join(dir, 'units');
    await mkdir(unitsDir);
    const unitFile = path.join(unitsDir, 'demo.toml');
    await writeFile(unitFile, `name = "demo"\nclass = "host"\nimage = "a:1"\n${deepTomlDocs('')['inline tables']}`);
    const settingsFile = path.join(dir, 'user-data.toml');
    await writeFile(settingsFile, deepTomlDocs('settings.')['table headers']!);
    const jsonFile = path.join(dir, 'user-data.json');
    await writeFile(jsonFile, deepJson);
    const results = await Promise.all([unitFile, settingsFile, jsonFile].map((f) => validateFile(f, SHIPPED_DEFAULTS)));
    for (const r of results) {
      assert.equal(r.ok, false, r.file);
      assert.deepEqual(r.errors.map((e) => e.message), [DEPTH_MESSAGE], r.file);
    }
  });
});

// ---- settings size ----------------------------------------------------------------------------------

describe('settings limits', () => {
  it('refuses more changes than the state may hold, and a state over its byte limit; nothing changes', async () => {
    const store = await SettingsStore.open({ stateDir: await tempDir(), defaultsFile: SHIPPED_DEFAULTS });
    const before = JSON.stringify(store.get());
    const many: Record<string, unknown> = {};
    for (let i = 0; i <= SETTINGS_MAX_KEYS; i++) many[`container-registry.insecure.r${i}.example`] = true;
    await assert.rejects(store.set(many), (e: unknown) => e instanceof SettingsError && e.issues[0]?.key === 'settings' && /at most 4096 settings in one change, got 4097/.test(e.message));
    // 20 × 60 KiB values: each within VALUE_SIZE_LIMIT, together over SETTINGS_MAX_BYTES.
    const big: Record<string, unknown> = {};
    for (let i = 0; i < 20; i++) big[`container-registry.mirrors.m${i}.example`] = [`https://m.example/${'x'.repeat(60_000)}`];
    await assert.rejects(store.set(big), (e: unknown) => e instanceof SettingsError && e.issues[0]?.key === 'settings' && e.message.includes(`at most ${SETTINGS_MAX_BYTES} bytes`));
    assert.equal(JSON.stringify(store.get()), before);
    // Staged transactions are bounded the same way.
    for (let i = 0; i < 17; i++) {
      const part: Record<string, unknown> = {};
      part[`container-registry.mirrors.s${i}.example`] = [`https://m.example/${'x'.repeat(64_000)}`];
      if (i < 16) store.stage('t', part);
      else assert.throws(() => store.stage('t', part), (e: unknown) => e instanceof SettingsError && e.issues[0]?.key === 'tx');
    }
  });

  it('at most 128 host containers (each one is a unit in every units list)', async () => {
    const store = await SettingsStore.open({ stateDir: await tempDir(), defaultsFile: SHIPPED_DEFAULTS });
    const defined = Object.keys(store.get()['host-containers'] as Record<string, unknown>).length;
    const more = (n: number): Record<string, unknown> => {
      const changes: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) changes[`host-containers.extra-${i}.source`] = 'localhost/x:1';
      return changes;
    };
    await store.set(more(128 - defined));
    await assert.rejects(store.set(more(129 - defined)), (e: unknown) => e instanceof SettingsError && e.issues[0]?.key === 'host-containers' && /at most 128 may be defined, this change would make it 129/.test(e.message));
  });

  it('applies removals and sets in order (set after a removal wins, removal after a set wins)', async () => {
    const store = await SettingsStore.open({ stateDir: await tempDir(), defaultsFile: SHIPPED_DEFAULTS });
    await store.set({ 'container-registry.insecure.a.example': true, 'container-registry.insecure.b.example': true });
    store.stage('t', { 'container-registry.insecure': null });
    store.stage('t', { 'container-registry.insecure.a.example': 'true' });
    await store.commit('t');
    assert.deepEqual(Object.keys(store.getFlat('container-registry.insecure')), ['container-registry.insecure.a.example']);
    store.stage('u', { 'container-registry.insecure.c.example': 'true' });
    store.stage('u', { 'container-registry.insecure': null });
    await store.commit('u');
    assert.deepEqual(store.getFlat('container-registry.insecure'), {});
  });
});

// ---- workload list paging -----------------------------------------------------------------------------

function info(name: string, envBytes: number): WorkloadInfo {
  const env: Record<string, string> = {};
  for (let i = 0; envBytes > 0; i++, envBytes -= 30_000) env[`V${i}`] = 'x'.repeat(Math.min(30_000, envBytes));
  return {
    request: { name, image: 'localhost/app:1', command: ['/bin/app'], env, mounts: [], restart: 'always', capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [] },
    mcs: 's0:c1,c2', runtime: 'containerd',
    status: { name, class: 'workload', state: 'stopped', desired: 'stopped', image: 'localhost/app:1', superpowered: false, containerId: name, namespace: 'berth-workloads', pid: 0, restarts: 0, health: 'none', events: [] },
  };
}

describe('workload list paging', () => {
  // 8 workloads of ~900 KB: 7 MB in total, more than one message.
  const all = Array.from({ length: 8 }, (_, i) => info(`wl-${i}`, 900_000));

  it('pages by bytes and count, every workload exactly once, in order', () => {
    const seen: string[] = [];
    let token = '';
    for (let pages = 0; pages < 100; pages++) {
      const page = listPage(all, { page_size: 100, page_token: token });
      const bytes = JSON.stringify(page).length;
      assert.ok(bytes < PAGE_MAX_BYTES * 2, `page of ${bytes} bytes`);
      seen.push(...page.workloads.map((w) => workloadFromWire(w).request.name));
      token = page.next_page_token ?? '';
      if (token === '') break;
    }
    assert.deepEqual(seen, all.map((w) => w.request.name));
    // Count-limited pages.
    const first = listPage(all.map((w) => info(w.request.name, 10)), { page_size: 3 });
    assert.equal(first.workloads.length, 3);
    const second = listPage(all.map((w) => info(w.request.name, 10)), { page_size: 3, page_token: first.next_page_token! });
    assert.deepEqual(second.workloads.map((w) => w.spec?.name), ['wl-3', 'wl-4', 'wl-5']);
  });

  it('unpaged: a small list as before; one over a message is RESOURCE_EXHAUSTED saying to page', () => {
    const small = listPage(all.map((w) => info(w.request.name, 10)), {});
    assert.equal(small.workloads.length, 8);
    assert.equal(small.next_page_token, undefined);
    assert.throws(() => listPage(all, {}), (e: unknown) => e instanceof ListTooLargeError && toStatus(e).code === status.RESOURCE_EXHAUSTED && /ask for pages/.test(e.message));
    assert.ok(UNPAGED_MAX_BYTES < 4 * 1024 * 1024);
  });

  it('a bad token or page size is INVALID_ARGUMENT naming the field', () => {
    assert.throws(() => listPage(all, { page_size: 10, page_token: 'garbage' }), (e: unknown) => toStatus(e).code === status.INVALID_ARGUMENT && /^page_token: /.test((e as Error).message));
    assert.throws(() => listPage(all, { page_size: -1 }), (e: unknown) => toStatus(e).code === status.INVALID_ARGUMENT && /^page_size: /.test((e as Error).message));
  });
});
