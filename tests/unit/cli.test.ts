// berthctl as a child process against the real API server (with in-memory fakes behind it): exit codes,
// help, output shapes, exec exit codes, offline validation.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost } from '../support/api-fakes.js';
import { CLI_MAIN, runCli } from '../support/cli.js';

const MAIN = CLI_MAIN;
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let server: ApiServer;
let supervisor: FakeSupervisor;
let settings: FakeSettings;

/** Runs berthctl (asynchronously: the server lives in this process and must keep answering). */
function berthctl(args: string[], opts: { input?: string; env?: Record<string, string>; socket?: string | null } = {}): Promise<Result> {
  const socketArgs = opts.socket === null ? [] : ['--socket', opts.socket ?? server.socketPath];
  return runCli([...socketArgs, ...args], opts);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-cli-'));
  supervisor = new FakeSupervisor();
  settings = new FakeSettings();
  server = await startApiServer({
    socketPath: join(dir, 'api.sock'), supervisor, settings, images: new FakeImages(), host: fakeHost(),
  });
});

after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('exit codes', () => {
  test('0 on success', async () => {
    const r = await berthctl(['units']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+CLASS\s+STATE/);
    assert.match(r.stdout, /\badmin\s+host\s+running\b/);
  });

  test('1 on a server-side error, printed as "berthctl: <message>"', async () => {
    const notFound = await berthctl(['status', 'nope']);
    assert.equal(notFound.code, 1);
    assert.equal(notFound.stderr, 'berthctl: unknown unit "nope"\n');

    const invalid = await berthctl(['set', 'host-containers.admin.enabled=maybe']);
    assert.equal(invalid.code, 1);
    assert.equal(invalid.stderr, 'berthctl: host-containers.admin.enabled: expected true or false, got "maybe"\n');

    const noDaemon = await berthctl(['units'], { socket: join(dir, 'missing.sock') });
    assert.equal(noDaemon.code, 1);
    assert.match(noDaemon.stderr, /^berthctl: cannot reach berthd at .*missing\.sock/);
  });

  test('2 on usage errors', async () => {
    for (const args of [
      ['frobnicate'],
      ['status'],
      ['set'],
      ['set', 'novalue'],
      ['--output', 'xml', 'units'],
      ['logs', 'admin', '--tail', 'ten'],
      ['units', '--bogus'],
      ['stop-all'],
      [],
    ]) {
      const r = await berthctl(args);
      assert.equal(r.code, 2, `berthctl ${args.join(' ')}: ${r.stderr}`);
      assert.notEqual(r.stderr, '', `berthctl ${args.join(' ')} says why`);
    }
  });
});

describe('help', () => {
  const commands = [
    [], ['get'], ['set'], ['apply'], ['keys'], ['tx'], ['tx', 'pending'], ['tx', 'commit'], ['tx', 'discard'],
    ['units'], ['status'], ['start'], ['stop'], ['restart'], ['stop-all'], ['logs'], ['exec'], ['events'],
    ['images'], ['images', 'import'], ['images', 'ls'], ['images', 'rm'], ['host'], ['version'], ['validate'],
  ];
  for (const cmd of commands) {
    test(`berthctl ${[...cmd, '--help'].join(' ')}`, async () => {
      const r = await berthctl([...cmd, '--help'], { socket: null });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`Usage: berthctl${cmd.length ? ` ${cmd.join(' ')}` : ''}`), r.stdout);
    });
  }
});

describe('commands against the server', () => {
  test('units --output json gives objects with name, class, state, pid, restarts', async () => {
    const r = await berthctl(['units', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const units = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.ok(Array.isArray(units));
    assert.deepEqual(units.map((u) => u['name']), ['admin', 'control']);
    for (const u of units) {
      assert.equal(typeof u['class'], 'string');
      assert.equal(typeof u['state'], 'string');
      assert.equal(typeof u['pid'], 'number');
      assert.equal(typeof u['restarts'], 'number');
    }
  });

  test('BERTH_SOCKET chooses the socket', async () => {
    const r = await berthctl(['-o', 'json', 'status', 'admin'], { socket: null, env: { BERTH_SOCKET: server.socketPath } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { name: string }).name, 'admin');
  });

  test('status, start, stop, restart', async () => {
    const status = await berthctl(['status', 'admin']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^name:\s+admin$/m);
    assert.match(status.stdout, /^state:\s+running \(desired running\)$/m);
    assert.match(status.stdout, /^events:\n {2}\S+ {2}running/m);
    assert.equal((await berthctl(['stop', 'control'])).stdout, 'control: stopped\n');
    assert.equal((await berthctl(['start', 'control'])).stdout, 'control: running\n');
    assert.equal((await berthctl(['restart', 'control'])).stdout, 'control: running\n');
  });

  test('get, set, set --json, apply from stdin, transactions', async () => {
    const set = await berthctl(['set', 'host-containers.admin.enabled=true']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /host-containers\.admin\.enabled/);
    const get = await berthctl(['get', 'host-containers.admin']);
    assert.deepEqual(JSON.parse(get.stdout), { 'host-containers': { admin: { enabled: true } } });
    const json = await berthctl(['-o', 'json', 'set', '--json', '{"host-containers":{"admin":{"enabled":false}}}']);
    assert.deepEqual(JSON.parse(json.stdout), { changed: ['host-containers.admin.enabled'] });
    const apply = await berthctl(['apply', '-'], { input: '[settings.host-containers.admin]\nenabled = true\n' });
    assert.equal(apply.code, 0, apply.stderr);
    assert.equal(settings.values.get('host-containers.admin.enabled'), true);
    const applyJson = await berthctl(['apply', '-'], { input: '{"settings":{"host-containers":{"admin":{"enabled":false}}}}' });
    assert.equal(applyJson.code, 0, applyJson.stderr);
    assert.equal(settings.values.get('host-containers.admin.enabled'), false);

    assert.equal((await berthctl(['set', '--tx', 'mytx', 'host-containers.admin.enabled=true'])).code, 0);
    assert.deepEqual(JSON.parse((await berthctl(['tx', 'pending', 'mytx'])).stdout), { 'host-containers.admin.enabled': true });
    assert.equal((await berthctl(['tx', 'commit', 'mytx'])).code, 0);
    assert.equal(settings.values.get('host-containers.admin.enabled'), true);
  });

  test('logs --tail', async () => {
    supervisor.emitLog('admin', 'first');
    supervisor.emitLog('admin', 'second', 'stderr');
    const r = await berthctl(['logs', 'admin', '--tail', '1', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const line = JSON.parse(r.stdout.trim()) as { line: string; stream: string };
    assert.deepEqual([line.line, line.stream], ['second', 'stderr']);
  });

  test('exec: the remote exit code becomes berthctl exit code; stdio passes through', async () => {
    const exit7 = await berthctl(['exec', 'admin', '--', 'sh', '-c', 'exit 7']);
    assert.equal(exit7.code, 7, exit7.stderr);
    const cat = await berthctl(['exec', 'admin', '--', 'cat'], { input: 'through the pipe\n' });
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'through the pipe\n');
    const fail = await berthctl(['exec', 'admin', '--', 'fail', 'oh', 'no']);
    assert.equal(fail.code, 1);
    assert.equal(fail.stderr, 'oh no\n');
    const missing = await berthctl(['exec', 'nope', '--', 'true']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'berthctl: unknown unit "nope"\n');
  });

  test('images, host, version', async () => {
    const ls = await berthctl(['images', 'ls']);
    assert.match(ls.stdout, /localhost\/berth\/admin:latest\s+sha256:a+\s+1\.2 MiB/);
    const imp = await berthctl(['-o', 'json', 'images', 'import', 'app.tar', '--ref', 'localhost/app:2']);
    assert.equal(imp.code, 0, imp.stderr);
    assert.equal((JSON.parse(imp.stdout) as { name: string }[])[0]?.name, 'localhost/app:2');
    assert.equal((await berthctl(['images', 'rm', 'localhost/app:2'])).code, 0);
    assert.equal((await berthctl(['images', 'rm', 'localhost/app:2'])).code, 1);
    const host = await berthctl(['host']);
    assert.equal(host.code, 0, host.stderr);
    assert.match(host.stdout, /^kernel:\s+\S+/m);
    assert.match(host.stdout, /^selinux:\s+enforcing$/m);
    const version = await berthctl(['-o', 'json', 'version']);
    assert.deepEqual(JSON.parse(version.stdout), {
      berthctl: '0.1.0', berthd: '0.1.0-test', containerd: '1.7.99-fake', daemon: { ready: true, containerd: 'connected', message: 'all units up' },
    });
  });

  test('events prints the live stream', async () => {
    const child = spawn(process.execPath, [MAIN, '--socket', server.socketPath, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      await new Promise<void>((resolve) => child.stderr.once('data', () => resolve()));
      while (supervisor.watchers === 0) await new Promise((r) => setTimeout(r, 10));
      await supervisor.stop('control');
      while (!stdout.includes('\n')) await new Promise((r) => setTimeout(r, 10));
      assert.match(stdout, /^\S+ {2}control {2}stopped {2}stopped on request\n/);
    } finally {
      child.kill();
      await supervisor.start('control');
    }
  });
});

describe('validate (offline)', () => {
  test('good unit specs and settings documents pass', async () => {
    const r = await berthctl(
      ['validate', join(REPO, 'rootfs/usr/share/berth/units/admin.toml'), join(REPO, 'rootfs/usr/share/berth/settings.toml')],
      { socket: join(dir, 'no-daemon.sock') },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /admin\.toml: ok \(unit\)/);
    assert.match(r.stdout, /settings\.toml: ok \(settings\)/);
  });

  test('bad files fail, each error naming file and field', async () => {
    const d = await mkdtemp(join(tmpdir(), 'berth-validate-'));
    try {
      await mkdir(join(d, 'units'));
      const unit = join(d, 'units', 'web.toml');
      await writeFile(unit, 'name = "web"\nclass = "workload"\nimage = "docker.io/library/nginx:1"\nbogus-key = 1\n');
      const loose = join(d, 'loose.toml');
      await writeFile(loose, 'name = "x"\nclass = "nonsense"\nimage = "a/b:1"\n');
      const doc = join(d, 'user-data.toml');
      await writeFile(doc, '[settings.host-containers.admin]\nenabled = "maybe"\n');
      const json = join(d, 'user-data.json');
      await writeFile(json, '{"settings": {"host-containers": {"admin": {"enabled": true}}}}');
      const r = await berthctl(['validate', unit, loose, doc, json], { socket: null });
      assert.notEqual(r.code, 0);
      // file:line:column of the value, as compilers print it.
      assert.match(r.stderr, new RegExp(`${unit.replace(/[.]/g, '\\.')}:4:13: bogus-key: `));
      assert.match(r.stderr, new RegExp(`${loose.replace(/[.]/g, '\\.')}:2:9: class: `));
      assert.match(r.stderr, new RegExp(`${doc.replace(/[.]/g, '\\.')}:2:11: host-containers\\.admin\\.enabled: expected true or false, got "maybe"`));
      assert.match(r.stdout, /user-data\.json: ok \(settings\)/);

      const asJson = await berthctl(['-o', 'json', 'validate', doc], { socket: null });
      assert.notEqual(asJson.code, 0);
      const [result] = JSON.parse(asJson.stdout) as { ok: boolean; kind: string; errors: { path: string }[] }[];
      assert.deepEqual([result?.ok, result?.kind, result?.errors[0]?.path], [false, 'settings', 'host-containers.admin.enabled']);

      const missing = await berthctl(['validate', join(d, 'absent.toml')], { socket: null });
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr, `${join(d, 'absent.toml')}: file does not exist\n`);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
