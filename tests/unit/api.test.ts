// The real gRPC server on a temporary unix socket, with in-memory fakes of berth's own interfaces behind it,
// called through the client berthctl uses (src/cli/client.ts).
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost } from '../support/api-fakes.js';
import { grpcCodeOf, toStatus, ValidationError } from '../../src/api/errors.js';
import { AlreadyExistsError as RuntimeAlreadyExistsError, NotFoundError as RuntimeNotFoundError, RuntimeUnavailableError } from '../../src/runtime/errors.js';
import { WorkloadExistsError, WorkloadNotFoundError, WorkloadValidationError } from '../../src/workloads/errors.js';
import { MessageValidationError } from '../../src/wire/errors.js';
import { ApiError, BerthClient, type WatchEvent } from '../../src/cli/client.js';
import { SettingsError } from '../../src/settings/index.js';
import { waitFor } from '../support/wait.js';

const execFile = promisify(execFileCb);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-api-'));
  dirs.push(dir);
  return dir;
}

async function rejectsWith(p: Promise<unknown>, code: status, includes?: string): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    assert.equal(err.codeName, status[code], err.message);
    if (includes !== undefined) assert.ok(err.message.includes(includes), `message ${JSON.stringify(err.message)} lacks ${includes}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

function collect(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString()));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

let dir: string;
let server: ApiServer;
let client: BerthClient;
let supervisor: FakeSupervisor;
let settings: FakeSettings;
let images: FakeImages;

before(async () => {
  dir = await tempDir();
  supervisor = new FakeSupervisor();
  settings = new FakeSettings();
  images = new FakeImages();
  await writeFile(join(dir, 'group'), 'root:x:0:\nberth:x:4242:alice\n');
  server = await startApiServer({
    socketPath: join(dir, 'run', 'api.sock'),
    supervisor, settings, images, host: fakeHost(),
    groupFile: join(dir, 'group'),
  });
  client = BerthClient.connect({ socketPath: server.socketPath });
});

after(async () => {
  client?.close();
  await server?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('socket', () => {
  test('is mode 0660, group berth, in a directory nobody else may write', async () => {
    const st = await stat(server.socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, 4242);
    assert.deepEqual(server.socketGroup, { name: 'berth', gid: 4242 });
    assert.equal((await stat(join(dir, 'run'))).mode & 0o002, 0);
  });

  test('without a berth group the socket is root-only, and the server says which group was missing', async () => {
    const d = await tempDir();
    await writeFile(join(d, 'group'), 'root:x:0:\n');
    const s = await startApiServer({ socketPath: join(d, 'api.sock'), supervisor, settings, images, host: fakeHost(), groupFile: join(d, 'group') });
    try {
      assert.deepEqual(s.socketGroup, { name: 'berth', gid: undefined });
      const st = await stat(s.socketPath);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.gid, process.getgid!());
    } finally {
      await s.close();
    }
  });

  test('a stale socket is replaced; a live one or a world-writable directory is refused', async () => {
    const d = await tempDir();
    const sock = join(d, 'api.sock');
    // A process that binds and dies without cleaning up leaves a stale socket behind.
    await execFile(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]).catch(() => undefined);
    assert.ok((await stat(sock)).isSocket());
    const s = await startApiServer({ socketPath: sock, supervisor, settings, images, host: fakeHost() });
    try {
      const c = BerthClient.connect({ socketPath: sock });
      assert.equal((await c.units.list()).length, 2);
      c.close();
      await assert.rejects(startApiServer({ socketPath: sock, supervisor, settings, images, host: fakeHost() }), /already listening/);
    } finally {
      await s.close();
    }
    await assert.rejects(stat(sock), /ENOENT/, 'close removes the socket');

    const open = join(d, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    await assert.rejects(
      startApiServer({ socketPath: join(open, 'api.sock'), supervisor, settings, images, host: fakeHost() }),
      /world-writable/,
    );
  });
});

describe('Settings', () => {
  test('get, set, set --json, apply round-trip with the changed keys', async () => {
    assert.deepEqual(await client.settings.get(), { 'host-containers': { admin: { enabled: false } } });
    assert.deepEqual(await client.settings.set({ 'host-containers.admin.enabled': 'true' }), ['host-containers.admin.enabled']);
    assert.deepEqual(await client.settings.get('host-containers.admin'), { 'host-containers': { admin: { enabled: true } } });
    assert.deepEqual(
      await client.settings.setJson(JSON.stringify({ 'host-containers': { control: { enabled: true, source: 'x/control:1' } } })),
      ['host-containers.control.enabled', 'host-containers.control.source'],
    );
    assert.deepEqual(await client.settings.apply('[settings.host-containers.admin]\nenabled = false\n', 'toml'), ['host-containers.admin.enabled']);
    assert.deepEqual(await client.settings.apply('{"settings": {"host-containers": {"admin": {"enabled": true}}}}'), ['host-containers.admin.enabled']);
    assert.equal((await client.settings.keys()).find((k) => k.pattern === 'host-containers.<name>.enabled')?.description, 'Whether the host container runs.');
  });

  test('transactions: stage, pending, commit, discard', async () => {
    await client.settings.stage('t1', { 'host-containers.extra.enabled': 'true' });
    assert.deepEqual(await client.settings.pending('t1'), { 'host-containers.extra.enabled': true });
    assert.deepEqual(await client.settings.commit('t1'), ['host-containers.extra.enabled']);
    assert.deepEqual(await client.settings.pending('t1'), {});
    await client.settings.stage('t2', { 'host-containers.extra.enabled': 'false' });
    await client.settings.discard('t2');
    assert.deepEqual(await client.settings.pending('t2'), {});
    await rejectsWith(client.settings.commit('t2'), status.INVALID_ARGUMENT, 'no staged changes');
    await rejectsWith(client.settings.commit(''), status.INVALID_ARGUMENT, 'tx');
  });

  test('validation errors are INVALID_ARGUMENT naming the key', async () => {
    await rejectsWith(
      client.settings.set({ 'host-containers.admin.enabled': 'maybe' }),
      status.INVALID_ARGUMENT,
      'host-containers.admin.enabled: expected true or false, got "maybe"',
    );
    await rejectsWith(client.settings.apply('[settings.host-containers.admin]\nenabled = "maybe"\n', 'toml'), status.INVALID_ARGUMENT, 'host-containers.admin.enabled');
    await rejectsWith(client.settings.stage('t3', { 'nope.key': 'x' }), status.INVALID_ARGUMENT, 'nope.key');
  });
});

describe('error mapping', () => {
  test('the runtime, the workloads and the wire contract have their own errors; codes and messages as before', () => {
    assert.equal(grpcCodeOf(new WorkloadValidationError('mounts[0].source', 'outside the allow-list')), status.INVALID_ARGUMENT);
    assert.equal(toStatus(new WorkloadValidationError('mounts[0].source', 'outside the allow-list')).details, 'mounts[0].source: outside the allow-list');
    assert.equal(toStatus(new WorkloadValidationError('mounts[0].source', 'mounts[0].source: outside')).details, 'mounts[0].source: outside');
    assert.equal(grpcCodeOf(new WorkloadNotFoundError('web')), status.NOT_FOUND);
    assert.equal(new WorkloadNotFoundError('web').message, 'workload "web" not found');
    assert.equal(grpcCodeOf(new WorkloadExistsError('web')), status.ALREADY_EXISTS);
    assert.equal(new WorkloadExistsError('web').message, 'workload "web" already exists; remove it first or pick another name');
    assert.equal(grpcCodeOf(new RuntimeAlreadyExistsError('docker: container web already exists')), status.ALREADY_EXISTS);
    assert.equal(grpcCodeOf(new RuntimeNotFoundError('tasks.Get: not found')), status.NOT_FOUND);
    assert.equal(grpcCodeOf(new RuntimeUnavailableError('containerd is down')), status.UNAVAILABLE);
    assert.equal(toStatus(new MessageValidationError('restart', 'must be one of always, on-failure, never')).details, 'restart: must be one of always, on-failure, never');
    assert.equal(grpcCodeOf(new MessageValidationError('spec', 'is required')), status.INVALID_ARGUMENT);
  });

  test('typed and duck-typed failures get their codes', () => {
    assert.equal(grpcCodeOf(new ValidationError('a.b', 'bad')), status.INVALID_ARGUMENT);
    assert.equal(new ValidationError('a.b', 'bad').message, 'a.b: bad');
    assert.equal(grpcCodeOf(Object.assign(new Error('x'), { path: 'mounts[0]' })), status.INVALID_ARGUMENT);
    class UnitValidationError extends Error {
      override name = 'UnitValidationError';
    }
    assert.equal(grpcCodeOf(new UnitValidationError('x')), status.INVALID_ARGUMENT);
    assert.equal(grpcCodeOf(Object.assign(new Error('x'), { name: 'UnavailableError', code: 14 })), status.UNAVAILABLE);
    assert.equal(grpcCodeOf(new Error('boom')), status.INTERNAL);
    // The settings store's own error: caller mistakes are INVALID_ARGUMENT, failing to persist is ours.
    assert.equal(grpcCodeOf(new SettingsError('invalid', [{ key: 'selinux.mode', message: 'bad' }])), status.INVALID_ARGUMENT);
    assert.equal(grpcCodeOf(new SettingsError('persist', [], 'disk full')), status.INTERNAL);
  });
});

describe('Units', () => {
  test('list, get, start, stop, restart, stop-all', async () => {
    const units = await client.units.list();
    assert.deepEqual(units.map((u) => u.name), ['admin', 'control']);
    const admin = await client.units.get('admin');
    assert.equal(admin.superpowered, true);
    assert.equal(admin.events[0]?.message, 'started');
    assert.equal(admin.exitCode, undefined);

    supervisor.units.set('admin', {
      ...admin, state: 'backing-off', exitCode: 0, lastError: 'exited with 2', nextRestartInMs: 1500,
      selinux: { processLabel: 'system_u:system_r:super_t:s0', mountLabel: 'system_u:object_r:secret_t:s0', applied: false, reason: 'SELinux disabled' },
    });
    const detailed = await client.units.get('admin');
    assert.equal(detailed.exitCode, 0, 'exit code 0 is not lost as "unset"');
    assert.equal(detailed.lastError, 'exited with 2');
    assert.equal(detailed.nextRestartInMs, 1500);
    assert.deepEqual(detailed.selinux, { processLabel: 'system_u:system_r:super_t:s0', mountLabel: 'system_u:object_r:secret_t:s0', applied: false, reason: 'SELinux disabled' });

    assert.equal((await client.units.stop('control')).state, 'stopped');
    assert.equal((await client.units.start('control')).state, 'running');
    assert.equal((await client.units.restart('control')).restarts, 1);
    await client.units.stopAll();
    assert.ok(supervisor.stoppedAll);
    await client.units.start('admin');
    await client.units.start('control');
  });

  test('stop progress streams: StopAllWithProgress reports every unit and ends; StopWithProgress one', async () => {
    const seen = [];
    for await (const p of client.units.stopAllWithProgress()) seen.push(p);
    assert.deepEqual(seen.map((p) => `${p.kind} ${p.name} ${p.phase}`), [
      'unit admin signal', 'unit admin stopped', 'unit control signal', 'unit control stopped',
    ]);
    assert.deepEqual(seen[0], { kind: 'unit', name: 'admin', phase: 'signal', signal: 'SIGTERM', timeoutMs: 10_000, elapsedMs: 0 });
    assert.deepEqual(seen[1], { kind: 'unit', name: 'admin', phase: 'stopped', exitCode: 143, elapsedMs: 5 });
    const again = [];
    for await (const p of client.units.stopWithProgress('admin')) again.push(p);
    assert.deepEqual(again, [{ kind: 'unit', name: 'admin', phase: 'not-running', elapsedMs: 0, message: 'stopped' }]);
    const drain = async (): Promise<void> => {
      for await (const _ of client.units.stopWithProgress('nope')) assert.fail('no progress for an unknown unit');
    };
    await rejectsWith(drain(), status.NOT_FOUND, '"nope"');
    await client.units.start('admin');
    await client.units.start('control');
  });

  test('an unknown unit is NOT_FOUND, an empty name INVALID_ARGUMENT', async () => {
    await rejectsWith(client.units.get('nope'), status.NOT_FOUND, '"nope"');
    await rejectsWith(client.units.start('nope'), status.NOT_FOUND);
    await rejectsWith(client.units.restart('nope'), status.NOT_FOUND);
    await rejectsWith(client.units.get(''), status.INVALID_ARGUMENT, 'name');
    const lines = async (): Promise<void> => {
      for await (const _ of client.units.logs('nope')) assert.fail('no lines expected');
    };
    await rejectsWith(lines(), status.NOT_FOUND);
    const session = client.units.exec({ unit: 'nope', args: ['true'], tty: false });
    await rejectsWith(session.exitCode, status.NOT_FOUND);
  });

  test('logs: tail, then follow streams lines as they are produced', async () => {
    for (const l of ['one', 'two', 'three']) supervisor.emitLog('control', l);
    const tail: string[] = [];
    for await (const l of client.units.logs('control', { tail: 2 })) tail.push(l.line);
    assert.deepEqual(tail, ['two', 'three']);

    const controller = new AbortController();
    const seen: { line: string; stream: string }[] = [];
    const iterator = client.units.logs('control', { tail: 1, follow: true, signal: controller.signal })[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.value?.line, 'three');
    const waitForFollower = async (): Promise<void> => {
      while (supervisor.followers === 0) await new Promise((r) => setTimeout(r, 5));
    };
    await waitForFollower();
    supervisor.emitLog('control', 'four');
    supervisor.emitLog('control', 'oops', 'stderr');
    for (let i = 0; i < 2; i++) {
      const next = await iterator.next();
      assert.ok(!next.done);
      seen.push({ line: next.value.line, stream: next.value.stream });
      assert.match(next.value.at, /^\d{4}-\d\d-\d\dT/);
    }
    assert.deepEqual(seen, [{ line: 'four', stream: 'stdout' }, { line: 'oops', stream: 'stderr' }]);
    controller.abort();
    assert.equal((await iterator.next()).done, true);
    // The server notices the cancellation and lets go of the supervisor's stream.
    for (let i = 0; i < 100 && supervisor.followers > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(supervisor.followers, 0);
  });

  test('exec streams stdin to stdout and returns the exit code', async () => {
    const cat = client.units.exec({ unit: 'control', args: ['cat'], tty: false, env: ['A=1'] });
    const out = collect(cat.stdout);
    cat.stdin.write('hello ');
    cat.stdin.end('world\n');
    assert.equal(await cat.exitCode, 0);
    assert.equal(await out, 'hello world\n');
    assert.deepEqual(supervisor.execRequests.at(-1)?.env, ['A=1']);

    const exit7 = client.units.exec({ unit: 'control', args: ['sh', '-c', 'exit 7'], tty: false });
    assert.equal(await exit7.exitCode, 7);

    const fail = client.units.exec({ unit: 'control', args: ['fail', 'bad', 'thing'], tty: false });
    const err = collect(fail.stderr);
    assert.equal(await fail.exitCode, 1);
    assert.equal(await err, 'bad thing\n');

    const tty = client.units.exec({ unit: 'admin', args: ['cat'], tty: true, cols: 80, rows: 24 });
    const ttyOut = collect(tty.stdout);
    tty.resize(100, 40);
    tty.stdin.end('x');
    assert.equal(await tty.exitCode, 0);
    assert.equal(await ttyOut, 'x');
    assert.deepEqual(supervisor.resizes.at(-1), { cols: 100, rows: 40 });
    assert.equal(supervisor.execRequests.at(-1)?.cols, 80);

    const big = client.units.exec({ unit: 'control', args: ['cat'], tty: false });
    const bigOut = collect(big.stdout);
    const payload = 'x'.repeat(3 * 1024 * 1024);
    big.stdin.end(payload);
    assert.equal(await big.exitCode, 0);
    assert.equal((await bigOut).length, payload.length);

    await rejectsWith(client.units.exec({ unit: 'control', args: [], tty: false }).exitCode, status.INVALID_ARGUMENT, 'args');
  });

  test('exec: a client that goes away gets the process stdin closed', async () => {
    const before = supervisor.sessions.length;
    const shell = client.units.exec({ unit: 'control', args: ['cat'], tty: true });
    while (supervisor.sessions.length === before) await new Promise((r) => setTimeout(r, 5));
    shell.cancel();
    await rejectsWith(shell.exitCode, status.CANCELLED);
    // The fake `cat` exits once its stdin is closed.
    assert.equal(await supervisor.sessions.at(-1)?.exitCode, 0);
  });
});

describe('Events', () => {
  test('watch starts with a hello snapshot, then streams events', async () => {
    const controller = new AbortController();
    const it = client.events.watch({ signal: controller.signal })[Symbol.asyncIterator]();
    const hello = (await it.next()).value as WatchEvent | undefined;
    assert.ok(hello?.kind === 'hello', 'the first message is the snapshot');
    assert.deepEqual(hello.units.map((u) => u.name), ['admin', 'control']);
    assert.equal(hello.daemon.ready, true);
    while (supervisor.watchers === 0) await new Promise((r) => setTimeout(r, 5));
    await client.units.stop('control');
    supervisor.emitEvent({ kind: 'daemon', message: 'containerd reconnected', at: new Date().toISOString() });
    const a = await it.next();
    assert.deepEqual(a.value?.kind === 'unit' ? [a.value.unit, a.value.state] : a.value, ['control', 'stopped']);
    const b = await it.next();
    assert.deepEqual(b.value?.kind === 'daemon' ? b.value.message : b.value, 'containerd reconnected');
    controller.abort();
    assert.equal((await it.next()).done, true);
    await client.units.start('control');
  });
});

describe('Images and Host', () => {
  test('import, list, remove', async () => {
    assert.deepEqual(await client.images.import('/var/lib/images/app.tar', 'localhost/app:1'), [{ name: 'localhost/app:1', digest: 'sha256:' + 'b'.repeat(64) }]);
    const list = await client.images.list();
    assert.ok(list.some((i) => i.name === 'localhost/app:1' && i.size === 42));
    assert.equal(list.find((i) => i.name === 'localhost/berth/admin:latest')?.size, 1234567);
    await client.images.remove('localhost/app:1');
    await rejectsWith(client.images.remove('localhost/app:1'), status.NOT_FOUND);
    await rejectsWith(client.images.import('relative.tar'), status.INVALID_ARGUMENT, 'path');
  });

  test('facts from the host plus SELinux and containerd from the provider; version', async () => {
    const facts = await client.host.facts();
    assert.equal(facts.os.platform, 'linux');
    assert.ok(facts.kernel.length > 0);
    assert.ok(facts.cpu.cores > 0);
    assert.ok(facts.memory.total > 0);
    assert.ok(Array.isArray(facts.disks) && Array.isArray(facts.filesystems));
    assert.deepEqual(facts.selinux, { enabled: true, mode: 'enforcing' });
    assert.equal(facts.containerdVersion, '1.7.99-fake');
    assert.deepEqual(await client.host.version(), {
      berthVersion: '0.1.0-test',
      containerdVersion: '1.7.99-fake',
      daemon: { ready: true, containerd: 'connected', message: 'all units up' },
    });
  });

  test('version still answers when containerd is down; facts carry a warning', async () => {
    const d = await tempDir();
    const down = async (): Promise<string> => {
      throw new Error('containerd: connection refused');
    };
    const s = await startApiServer({ socketPath: join(d, 'api.sock'), supervisor, settings, images, host: fakeHost({ containerdVersion: down }) });
    const c = BerthClient.connect({ socketPath: s.socketPath });
    try {
      assert.equal((await c.host.version()).containerdVersion, '');
      const facts = await c.host.facts();
      assert.equal(facts.containerdVersion, '');
      assert.ok(facts.warnings.some((w) => w.includes('connection refused')));
    } finally {
      c.close();
      await s.close();
    }
  });
});

describe('TCP with mutual TLS', () => {
  async function openssl(cwd: string, args: string[]): Promise<void> {
    await execFile('openssl', args, { cwd });
  }

  async function makePki(d: string, caName: string, names: string[]): Promise<void> {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl(d, ['req', '-x509', ...ec, '-keyout', `${caName}.key`, '-out', `${caName}.crt`, '-days', '1', '-subj', `/CN=${caName}`]);
    for (const name of names) {
      const usage = name === 'server' ? 'serverAuth' : 'clientAuth';
      await writeFile(join(d, `${name}.ext`), `subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=${usage}\n`);
      await openssl(d, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
      await openssl(d, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`]);
    }
  }

  test('refuses clients without a certificate or with one from another CA, accepts one signed by the CA', async () => {
    const d = await tempDir();
    await makePki(d, 'ca', ['server', 'client']);
    await makePki(d, 'rogue-ca', ['rogue']);
    const s = await startApiServer({
      socketPath: join(d, 'api.sock'), supervisor, settings, images, host: fakeHost(),
      tcp: { address: '127.0.0.1:0', caCert: join(d, 'ca.crt'), serverCert: join(d, 'server.crt'), serverKey: join(d, 'server.key') },
    });
    const read = (f: string): Promise<Buffer> => readFile(join(d, f));
    const address = `127.0.0.1:${s.tcpPort}`;
    const ca = await read('ca.crt');
    try {
      assert.ok(s.tcpPort !== undefined && s.tcpPort > 0);
      const anonymous = BerthClient.connect({ tls: { address, ca, serverName: 'localhost' } });
      await rejectsWith(anonymous.units.list({ timeoutMs: 5000 }), status.UNAVAILABLE);
      anonymous.close();

      const rogue = BerthClient.connect({ tls: { address, ca, cert: await read('rogue.crt'), key: await read('rogue.key'), serverName: 'localhost' } });
      await rejectsWith(rogue.units.list({ timeoutMs: 5000 }), status.UNAVAILABLE);
      rogue.close();

      const trusted = BerthClient.connect({ tls: { address, ca, cert: await read('client.crt'), key: await read('client.key'), serverName: 'localhost' } });
      assert.deepEqual((await trusted.units.list({ timeoutMs: 5000 })).map((u) => u.name), ['admin', 'control']);
      trusted.close();
    } finally {
      await s.close();
    }
  });

  test('no TCP listener unless configured', () => {
    assert.equal(server.tcpPort, undefined);
  });
});

describe('shutdown', () => {
  test('close ends open follow streams promptly', async () => {
    const d = await tempDir();
    const s = await startApiServer({ socketPath: join(d, 'api.sock'), supervisor, settings, images, host: fakeHost() });
    const c = BerthClient.connect({ socketPath: s.socketPath });
    const it = c.units.logs('control', { follow: true })[Symbol.asyncIterator]();
    const drained = (async () => {
      try {
        while (!(await it.next()).done);
        return 'ended';
      } catch (err) {
        return err instanceof ApiError ? err.codeName : String(err);
      }
    })();
    while (supervisor.followers === 0) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await s.close(2000);
    assert.equal(await drained, 'UNAVAILABLE');
    assert.ok(Date.now() - started < 1500);
    c.close();
  });
});


describe('Updates/Reboot', () => {
  /** A fake updater's reboot: records what the server asked, answers, and records when its command ran. */
  function fakeUpdates(o: { refuse?: Error } = {}) {
    const asked: { waitMs: number; aborted: () => boolean }[] = [];
    const events: string[] = [];
    const never = (): Promise<never> => Promise.reject(new Error('not in this test'));
    const updates = {
      check: never, apply: never, cancel: never, status: never, prepare: never, activate: never, deactivate: never, rollback: never,
      reboot: async (r: { waitMs: number; signal?: AbortSignal }) => {
        asked.push({ waitMs: r.waitMs, aborted: () => r.signal?.aborted === true });
        if (o.refuse) throw o.refuse;
        return { message: 'rebooting into 2.0.0', toVersion: '2.0.0', run: async () => void events.push('command') };
      },
    };
    return { updates, asked, events };
  }

  // That the answer is out before the command runs (a command that kills berthd) is shown with a real berthd:
  // tests/integration/fleet-reboot.test.ts. Here, in one process, the caller may read it later than that.
  test('answers, then runs the command; the wait is the caller\'s, at most an hour', async () => {
    const d = await tempDir();
    const f = fakeUpdates();
    const s = await startApiServer({ socketPath: join(d, 'api.sock'), supervisor, settings, images, host: fakeHost(), updates: f.updates });
    const c = BerthClient.connect({ socketPath: s.socketPath, unary: 'http2' });
    try {
      const answer = await c.updates.reboot({ waitMs: 2500 });
      assert.deepEqual(answer, { message: 'rebooting into 2.0.0', toVersion: '2.0.0' });
      await waitFor(() => f.events.length > 0, 5000, 'the command to run after the answer');
      assert.deepEqual(f.events, ['command']);
      await c.updates.reboot({ waitMs: 10 * 3_600_000, timeoutMs: 5000 });
      await c.updates.reboot();
      assert.deepEqual(f.asked.map((a) => a.waitMs), [2500, 3_600_000, 0]);
    } finally {
      c.close();
      await s.close();
    }
  });

  test('no slot within the wait is RESOURCE_EXHAUSTED with berthd\'s words; the command never runs', async () => {
    const d = await tempDir();
    const f = fakeUpdates({ refuse: Object.assign(new Error('no reboot slot is free for this host in fleet group g after waiting 1 s: all 1 reboot slots are held (h2)'), { code: 8 }) });
    const s = await startApiServer({ socketPath: join(d, 'api.sock'), supervisor, settings, images, host: fakeHost(), updates: f.updates });
    const c = BerthClient.connect({ socketPath: s.socketPath });
    try {
      await rejectsWith(c.updates.reboot({ waitMs: 1000 }), status.RESOURCE_EXHAUSTED, 'all 1 reboot slots are held (h2)');
      assert.deepEqual(f.events, []);
    } finally {
      c.close();
      await s.close();
    }
  });
});
