// Issue 14, items 5 and 9b: secrets never leave berthd in clear (redaction of settings in every output path),
// unit logs are private and die with their workload, and a `restart never` unit that exited stays exited.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { ApiError, BerthClient } from '../../src/cli/client.js';
import { settingsApi } from '../../src/daemon/api-adapters.js';
import { FakeImages, FakeSupervisor, fakeHost } from '../support/api-fakes.js';
import { REDACTED, SETTINGS, SettingsError, SettingsStore, isSecretKey, redactSettings } from '../../src/settings/index.js';
import { parseErrorMessage } from '../../src/settings/document.js';
import { SECRET_KEY_PATTERNS, looksSecret, redactSecrets } from '../../src/settings/secret-keys.js';
import { LogStore, LOG_DIR_MODE, LOG_FILE_MODE } from '../../src/supervisor/log-store.js';
import { validateUnit } from '../../src/units/index.js';
import type { UnitSpec } from '../../src/units/types.js';
import type { ExitInfo, ManagedContainer, Runtime, RunningTask, RuntimeEvent } from '../../src/runtime/types.js';
import { planned, testImages, testSupervisor } from '../support/supervisor.js';
import { runCli, type CliResult } from '../support/cli.js';

const SHIPPED_DEFAULTS = fileURLToPath(new URL('../../../rootfs/usr/share/berth/settings.toml', import.meta.url));
const SECRET = 'hunter2-Zq9';
const HOST = 'registry.example.com:5000';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const USER_DATA = b64(`{"ssm":{"activation-code":"${SECRET}"}}`);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-secrets-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('which settings are secret', () => {
  test('passwords, Docker auth, identity tokens and user-data are declared sensitive', () => {
    for (const key of [
      `container-registry.credentials.${HOST}.password`,
      'container-registry.credentials.docker.io.auth',
      'container-registry.credentials.docker.io.identitytoken',
      'host-containers.control.user-data',
      'settings.bootstrap-containers.setup.user-data',
    ]) assert.ok(isSecretKey(key), key);
    for (const key of [`container-registry.credentials.${HOST}.username`, 'host-containers.admin.enabled', 'container-registry.ca-bundle', 'nope.password']) {
      assert.ok(!isSecretKey(key), key);
    }
  });

  test('every registry key whose name says secret is marked sensitive (a new one cannot be forgotten)', () => {
    for (const d of SETTINGS) {
      const last = d.pattern.split('.').at(-1) ?? '';
      if (/pass|auth|token|secret|credential|user-data|key$/i.test(last)) assert.equal(d.sensitive, true, d.pattern);
    }
  });
});

describe('redactSettings', () => {
  const tree = {
    'container-registry': {
      credentials: { [HOST]: { username: 'robot', password: SECRET }, 'docker.io': { auth: b64(`u:${SECRET}`), identitytoken: SECRET } },
      mirrors: { 'docker.io': ['https://mirror.example'] },
    },
    'host-containers': { control: { enabled: true, 'user-data': USER_DATA } },
  };

  test('a nested tree (get): secret values become "<redacted>", keys and everything else stay', () => {
    const before = JSON.stringify(tree);
    const out = redactSettings(tree);
    assert.deepEqual(out, {
      'container-registry': {
        credentials: { [HOST]: { username: 'robot', password: REDACTED }, 'docker.io': { auth: REDACTED, identitytoken: REDACTED } },
        mirrors: { 'docker.io': ['https://mirror.example'] },
      },
      'host-containers': { control: { enabled: true, 'user-data': REDACTED } },
    });
    assert.equal(JSON.stringify(tree), before, 'the input is not changed');
    assert.ok(!JSON.stringify(out).includes(SECRET));
  });

  test('flat dotted maps (tx pending), documents under "settings", mixed nesting; a removal (null) stays visible', () => {
    assert.deepEqual(redactSettings({ [`container-registry.credentials.${HOST}.password`]: SECRET, 'host-containers.x.user-data': null, 'selinux.mode': 'off' }), {
      [`container-registry.credentials.${HOST}.password`]: REDACTED, 'host-containers.x.user-data': null, 'selinux.mode': 'off',
    });
    assert.deepEqual(redactSettings({ settings: { 'container-registry.credentials': { [HOST]: { password: SECRET } } } }), {
      settings: { 'container-registry.credentials': { [HOST]: { password: REDACTED } } },
    });
    assert.equal(redactSettings('plain'), 'plain');
    assert.deepEqual(redactSettings({ unknown: { password: 'x' } }), { unknown: { password: 'x' } }, 'not a registry key: nothing to redact');
  });
});

describe("berthctl's redaction without the registry (settings/secret-keys.ts)", () => {
  test('its list of secret key patterns is the registry list', () => {
    assert.deepEqual([...SECRET_KEY_PATTERNS].sort(), SETTINGS.filter((d) => d.sensitive).map((d) => d.pattern).sort());
  });

  test('it calls secret every key the registry does (and the same keys, for valid names)', () => {
    const names: Record<string, string[]> = { '<name>': ['admin', 'control', 'x'], '<registry>': [HOST, 'docker.io', 'ghcr.io'] };
    const keys = SETTINGS.flatMap((d) => {
      const placeholder = d.wildcard?.placeholder;
      const fill = placeholder ? (names[placeholder] ?? ['x']) : [''];
      return fill.flatMap((n) => {
        const key = placeholder ? d.pattern.replace(placeholder, n) : d.pattern;
        return [key, `settings.${key}`, `${key}.extra`, key.split('.').slice(0, -1).join('.')];
      });
    });
    assert.ok(keys.length > 50 && keys.some((k) => isSecretKey(k)));
    for (const key of keys) assert.equal(looksSecret(key), isSecretKey(key), key);
    // Where the registry refuses the wildcard's value, the shape still counts: more redaction, never less.
    assert.ok(looksSecret('host-containers.Not Valid!.user-data'));
  });

  test('it redacts the trees, maps and documents the registry-backed redaction does, the same way', () => {
    const inputs = [
      redactSettingsTree(),
      { [`container-registry.credentials.${HOST}.password`]: SECRET, 'host-containers.x.user-data': null, 'selinux.mode': 'off' },
      { settings: { 'container-registry.credentials': { [HOST]: { password: SECRET } } } },
      'plain',
      { unknown: { password: 'x' } },
    ];
    for (const input of inputs) assert.deepEqual(redactSecrets(input), redactSettings(input));
  });
});

function redactSettingsTree(): object {
  return {
    'container-registry': { credentials: { [HOST]: { username: 'robot', password: SECRET }, 'docker.io': { auth: b64(`u:${SECRET}`), identitytoken: SECRET } } },
    'host-containers': { control: { enabled: true, 'user-data': USER_DATA } },
  };
}

describe('parse errors do not echo the document', () => {
  test('V8 JSON excerpts are cut, on one line or many', () => {
    for (const text of [`{"settings": {"password": ${SECRET}}}`, `{"a":\n{"password": ${SECRET}\n}}`, SECRET]) {
      let err: unknown;
      try {
        JSON.parse(text);
      } catch (e) {
        err = e;
      }
      const message = parseErrorMessage(err);
      assert.ok(!message.includes(SECRET.slice(1)), message);
      assert.match(message, /Unexpected token/);
    }
  });

  test('store: a bad value of a secret key, and a broken JSON document, never show the secret', async () => {
    const store = await SettingsStore.open({ stateDir: await tempDir(), defaultsFile: SHIPPED_DEFAULTS });
    await assert.rejects(store.set({ 'host-containers.control.user-data': `not base64 ${SECRET}` }), (e: Error) => {
      assert.ok(e instanceof SettingsError);
      assert.match(e.message, /host-containers\.control\.user-data/);
      return !e.message.includes(SECRET);
    });
    await assert.rejects(store.apply(`{"settings": {"container-registry": {"credentials": {"${HOST}": {"password": ${SECRET}}}}}}`, 'json'), (e: Error) => !e.message.includes(SECRET.slice(1)));
  });
});

describe('API and berthctl over a real settings store', () => {
  let server: ApiServer;
  let client: BerthClient;
  let store: SettingsStore;

  before(async () => {
    const dir = await tempDir();
    store = await SettingsStore.open({ stateDir: join(dir, 'state'), defaultsFile: SHIPPED_DEFAULTS });
    server = await startApiServer({ socketPath: join(dir, 'api.sock'), supervisor: new FakeSupervisor(), settings: settingsApi(store), images: new FakeImages(), host: fakeHost() });
    client = BerthClient.connect({ socketPath: server.socketPath });
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  const berthctl = (args: string[]): Promise<CliResult> => runCli(['--socket', server.socketPath, ...args]);

  test('set echoes keys only; Get shows the keys with "<redacted>"; the store still holds the values', async () => {
    const set = await berthctl(['set', `container-registry.credentials.${HOST}.username=robot`, `container-registry.credentials.${HOST}.password=${SECRET}`, `host-containers.control.user-data=${USER_DATA}`]);
    assert.equal(set.code, 0, set.stderr);
    assert.ok(!set.stdout.includes(SECRET) && !set.stdout.includes(USER_DATA), set.stdout);
    assert.match(set.stdout, /password/);

    const got = (await client.settings.get()) as Record<string, Record<string, Record<string, Record<string, unknown>>>>;
    assert.deepEqual(got['container-registry']?.['credentials']?.[HOST], { username: 'robot', password: REDACTED });
    assert.equal(got['host-containers']?.['control']?.['user-data'], REDACTED);
    assert.deepEqual(await client.settings.get(`container-registry.credentials.${HOST}.password`), { 'container-registry': { credentials: { [HOST]: { password: REDACTED } } } });
    // Still stored and used: the registry client reads credentials through the typed accessor.
    assert.equal(store.policy().containerRegistry.credentials.get(HOST)?.password, SECRET);

    for (const args of [['get'], ['get', 'container-registry'], ['-o', 'json', 'get'], ['get', `container-registry.credentials.${HOST}`]]) {
      const r = await berthctl(args);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes(SECRET) && !r.stdout.includes(USER_DATA), `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stdout, /<redacted>/);
    }
  });

  test('apply and tx pending do not show secrets; errors do not either', async () => {
    const doc = `[settings.container-registry.credentials."${HOST}"]\npassword = "${SECRET}-2"\n`;
    const file = join(await tempDir(), 'user-data.toml');
    await writeFile(file, doc);
    const applied = await berthctl(['apply', file]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.ok(!applied.stdout.includes(SECRET));

    await client.settings.stage('t1', { [`container-registry.credentials.${HOST}.password`]: `${SECRET}-3` });
    assert.deepEqual(await client.settings.pending('t1'), { [`container-registry.credentials.${HOST}.password`]: REDACTED });
    const pending = await berthctl(['tx', 'pending', 't1']);
    assert.equal(pending.code, 0, pending.stderr);
    assert.ok(!pending.stdout.includes(SECRET), pending.stdout);
    await client.settings.discard('t1');

    const badJson = await berthctl(['set', '--json', `{"container-registry": {"credentials": {"${HOST}": {"password": ${SECRET}}}}}`]);
    assert.notEqual(badJson.code, 0);
    assert.ok(!`${badJson.stdout}${badJson.stderr}`.includes(SECRET.slice(1)), badJson.stderr);
    await assert.rejects(client.settings.set({ 'host-containers.control.user-data': `*${SECRET}*` }), (e: Error) => e instanceof ApiError && !e.message.includes(SECRET));
  });
});

describe('log store: private files, removed with the unit', () => {
  test('files 0640 and dir 0750 whatever the umask, an older loose file and dir are tightened', async () => {
    const dir = join(await tempDir(), 'logs');
    const old = process.umask(0);
    try {
      const store = new LogStore(dir);
      await store.append('a', 'stdout', 'x');
      assert.equal((await stat(dir)).mode & 0o777, LOG_DIR_MODE);
      assert.equal((await stat(store.file('a'))).mode & 0o777, LOG_FILE_MODE);
      await store.close();
      await chmod(dir, 0o755);
      await chmod(store.file('a'), 0o666);
      const again = new LogStore(dir);
      await again.append('a', 'stdout', 'y');
      assert.equal((await stat(dir)).mode & 0o777, 0o750);
      assert.equal((await stat(again.file('a'))).mode & 0o777, 0o640);
      await again.close();
    } finally {
      process.umask(old);
    }
  });

  test('rotated files get the same mode; remove() deletes the log and its rotations; a same-name unit starts empty', async () => {
    const dir = join(await tempDir(), 'logs');
    const store = new LogStore(dir, { maxBytes: 200, keep: 2 });
    for (let i = 0; i < 20; i++) await store.append('w', 'stdout', `old-line-${i}`);
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, ['w.log', 'w.log.1', 'w.log.2']);
    for (const f of files) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o640, f);
    await store.append('other', 'stdout', 'kept');

    await store.remove('w');
    assert.deepEqual(await readdir(dir), ['other.log']);
    await store.append('w', 'stdout', 'new-line');
    const lines: string[] = [];
    for await (const l of store.read('w', {})) lines.push(l.line);
    assert.deepEqual(lines, ['new-line']);
    await store.close();
  });

  test('lines a removed unit\'s streams still deliver are dropped, not written into the next one\'s log', async () => {
    const dir = join(await tempDir(), 'logs');
    const store = new LogStore(dir);
    const oldOut = new PassThrough();
    store.attach('w', 'stdout', oldOut);
    oldOut.write('before\n');
    await new Promise((r) => setImmediate(r));
    await store.remove('w');
    oldOut.write('late line of the old container\n');
    oldOut.end('tail without newline');
    await new Promise((r) => setImmediate(r));
    const newOut = new PassThrough();
    store.attach('w', 'stdout', newOut);
    newOut.write('fresh\n');
    await new Promise((r) => setImmediate(r));
    await store.append('w', 'stderr', 'sync');
    const lines: string[] = [];
    for await (const l of store.read('w', {})) lines.push(l.line);
    assert.deepEqual(lines, ['fresh', 'sync']);
    await store.close();
  });
});

/** A runtime whose tasks exit when the test says so; counts starts. */
class ScriptedRuntime implements Runtime {
  readonly name = 'scripted';
  readonly namespace = 'test';
  readonly images = testImages();
  readonly exits = new Map<string, (e: ExitInfo) => void>();
  readonly starts = new Map<string, number>();
  private pid = 100;
  async listManaged(): Promise<ManagedContainer[]> {
    return [];
  }
  async create(): Promise<void> {}
  async start(id: string): Promise<RunningTask> {
    this.starts.set(id, (this.starts.get(id) ?? 0) + 1);
    return { pid: ++this.pid, exited: new Promise<ExitInfo>((resolve) => this.exits.set(id, resolve)) };
  }
  async adopt(id: string): Promise<RunningTask> {
    return this.start(id);
  }
  async rewait(id: string): Promise<RunningTask> {
    return this.start(id);
  }
  async signal(id: string): Promise<void> {
    this.exits.get(id)?.({ exitCode: 143, at: new Date() });
  }
  async remove(): Promise<void> {}
  async exec(): Promise<never> {
    throw new Error('no exec');
  }
  async taskState(): Promise<undefined> {
    return undefined;
  }
  async *watch(signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
  }
}

function unit(name: string, restart: string, extra: Record<string, unknown> = {}): UnitSpec {
  const r = validateUnit({ name, class: 'workload', image: 'localhost/x:1', restart: { policy: restart }, 'persistent-storage': false, ...extra });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.unit;
}

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('restart never: an exited unit stays exited', () => {
  test('re-applying the desired state (another workload run, one removed) does not start it; start() and a changed spec do', async () => {
    const dir = await tempDir();
    const runtime = new ScriptedRuntime();
    const sup = testSupervisor(runtime, dir, { logs: new LogStore(join(dir, 'logs')) });
    try {
      const once = unit('once', 'never');
      const fails = unit('fails', 'never');
      const clean = unit('clean', 'on-failure');
      await sup.setDesired(planned([once, fails, clean], () => 'running'));
      await sup.run();
      runtime.exits.get('once')!({ exitCode: 0, at: new Date() });
      runtime.exits.get('fails')!({ exitCode: 3, at: new Date() });
      runtime.exits.get('clean')!({ exitCode: 0, at: new Date() });
      await until(() => sup.get('once')?.state === 'exited' && sup.get('fails')?.state === 'failed' && sup.get('clean')?.state === 'exited', 'all ended');
      assert.equal(sup.get('once')?.desired, 'stopped', 'nothing will start it: not desired running');
      // What `units` and `workloads ls` print as DESIRED (issue 16.3): a failed `never` run and a clean `on-failure` exit too.
      assert.deepEqual(['fails', 'clean'].map((n) => sup.get(n)?.desired), ['stopped', 'stopped']);

      // Another workload is run, then one removed: the manager re-applies every workload's desired state.
      const other = unit('other', 'always');
      await sup.setDesired(planned([once, fails, clean, other], () => 'running'));
      await sup.setDesired(planned([once, fails, clean], () => 'running'));
      for (const name of ['once', 'fails', 'clean']) assert.equal(runtime.starts.get(name), 1, `${name} not started again`);
      assert.equal(sup.get('once')?.state, 'exited');
      assert.equal(sup.get('fails')?.state, 'failed');

      // An explicit start runs it again; so does a changed spec.
      await sup.start('once');
      assert.equal(runtime.starts.get('once'), 2);
      assert.equal(sup.get('once')?.desired, 'running');
      await sup.setDesired(planned([once, unit('fails', 'never', { command: ['/bin/other'] }), clean], () => 'running'));
      assert.equal(runtime.starts.get('fails'), 2);
      // And disabling then enabling again (a settings toggle) does too.
      await sup.setDesired(planned([once, clean], () => 'running'));
      await sup.setDesired(planned([once, clean], (s) => (s.name === 'clean' ? 'stopped' : 'running')));
      assert.equal(sup.get('clean')?.state, 'exited', 'desired stopped for an ended unit (persisted by the workload manager) leaves it as it is');
      await sup.setDesired(planned([once, clean], () => 'running'));
      assert.equal(runtime.starts.get('clean'), 2);
    } finally {
      sup.close();
    }
  });
});
