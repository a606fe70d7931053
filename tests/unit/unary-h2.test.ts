// berthctl's fast unary path (node:http2 + the compiled codec, src/cli/unary-h2.ts) against the grpc-js path,
// both calling the real API server (fakes behind it): the same decoded messages, byte for byte as JSON, and
// the same failures (code and message) — server statuses with encoded messages, an unknown method answered
// trailers-only, a socket nobody listens on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { ApiError, BerthClient } from '../../src/cli/client.js';
import { apiError } from '../../src/cli/client-call.js';
import { GrpcTransport } from '../../src/cli/client-grpc.js';
import { H2Unary } from '../../src/cli/unary-h2.js';
import { berthUnaryCodec } from '../../src/wire/unary-codec.js';
import type { BerthServiceName } from '../../src/wire/services.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost } from '../support/api-fakes.js';
import { withDeadline } from '../support/wait.js';

let dir: string;
let server: ApiServer;
let grpcT: GrpcTransport;
let h2: H2Unary;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-h2-'));
  server = await startApiServer({
    socketPath: join(dir, 'api.sock'), supervisor: new FakeSupervisor(), settings: new FakeSettings(), images: new FakeImages(), host: fakeHost(),
  });
  grpcT = new GrpcTransport({ socketPath: server.socketPath });
  h2 = new H2Unary(server.socketPath);
});

after(async () => {
  grpcT?.close();
  h2?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

type Outcome = { ok: unknown } | { code: number; message: string };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await p };
  } catch (err) {
    assert.ok(err instanceof ApiError, `an ApiError, not ${String(err)}`);
    return { code: err.code, message: err.message };
  }
}

/** One call both ways: the outcomes must be identical, JSON key order included. */
async function both(service: BerthServiceName, method: string, req: object): Promise<Outcome> {
  const codec = berthUnaryCodec(service, method);
  assert.ok(codec, `${service}/${method} has a fast codec`);
  const viaGrpc = await outcome(grpcT.unary(service, method, req));
  const viaH2 = await outcome(h2.call(codec, req));
  assert.deepStrictEqual(viaH2, viaGrpc, `${service}/${method}`);
  assert.equal(JSON.stringify(viaH2), JSON.stringify(viaGrpc), `${service}/${method}: JSON`);
  return viaH2;
}

describe('the same answers over HTTP/2 as over grpc-js', () => {
  test('unary calls that succeed', async () => {
    const list = await both('Units', 'List', {});
    assert.ok('ok' in list && JSON.stringify(list.ok).includes('"admin"'));
    await both('Units', 'Get', { name: 'admin' });
    await both('Settings', 'Get', { prefix: '' });
    // Calls that change state are compared once the state no longer changes.
    await both('Settings', 'Set', { values: { 'host-containers.admin.enabled': 'false' } });
    await both('Units', 'Stop', { name: 'idle' });
    await both('Settings', 'Keys', {});
    await both('Host', 'Version', {});
    // (Host/Facts is left out: free memory changes between two calls.)
    await both('Images', 'List', {});
  });

  test('server errors: code and message, with characters grpc-message percent-encodes', async () => {
    const notFound = await both('Units', 'Get', { name: 'nope' });
    assert.deepEqual(notFound, { code: grpc.status.NOT_FOUND, message: 'unknown unit "nope"' });
    const invalid = await both('Settings', 'Set', { values: { 'host-containers.admin.enabled': 'ja 100% ü\n€' } });
    assert.deepEqual(invalid, { code: grpc.status.INVALID_ARGUMENT, message: 'host-containers.admin.enabled: expected true or false, got "ja 100% ü\\n€"' });
    await both('Settings', 'Commit', { tx: 'none' });
  });

  test('an unknown method (a trailers-only answer) and a request that cannot be encoded', async () => {
    const codec = { ...berthUnaryCodec('Units', 'Get')!, path: '/berth.v1.Units/Nope' };
    const viaH2 = await outcome(h2.call(codec, { name: 'x' }));
    const client = new grpc.Client(`unix://${server.socketPath}`, grpc.credentials.createInsecure());
    const viaGrpc = await outcome(new Promise((resolve, reject) => {
      client.makeUnaryRequest(codec.path, codec.encode, (b: Buffer) => b, { name: 'x' }, (err, res) => (err ? reject(apiError(err)) : resolve(res)));
    }));
    client.close();
    assert.deepStrictEqual(viaH2, viaGrpc);
    assert.equal((viaH2 as { code: number }).code, grpc.status.UNIMPLEMENTED);

    const typeError = await both('Settings', 'Set', { values: 'not a map' });
    assert.deepEqual(typeError, { code: grpc.status.INTERNAL, message: 'Request message serialization failure: .berth.v1.SetSettingsRequest.values: object expected' });
  });

  test('nobody listening: UNAVAILABLE with the same message (main.ts adds "cannot reach berthd")', async () => {
    for (const socketPath of [join(dir, 'missing.sock'), dir]) {
      const g = new GrpcTransport({ socketPath });
      const f = new H2Unary(socketPath);
      const viaGrpc = await outcome(g.unary('Units', 'List', {}));
      const viaH2 = await outcome(f.call(berthUnaryCodec('Units', 'List')!, {}));
      g.close();
      f.close();
      assert.deepStrictEqual(viaH2, viaGrpc, socketPath);
      assert.equal((viaH2 as { code: number }).code, grpc.status.UNAVAILABLE);
    }
  });

  test('a peer that accepts and hangs up without HTTP/2: UNAVAILABLE, as grpc-js says it', async () => {
    const sock = join(dir, 'rude.sock');
    const rude: Server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => rude.listen(sock, resolve));
    try {
      const viaH2 = await outcome(new H2Unary(sock).call(berthUnaryCodec('Units', 'List')!, {}));
      assert.equal((viaH2 as { code: number }).code, grpc.status.UNAVAILABLE);
      assert.match((viaH2 as { message: string }).message, /^No connection established\. Last error: .*\(\d{4}-\d\d-\d\dT[^)]*\)\. Resolution note: $/);
    } finally {
      await new Promise((resolve) => rude.close(resolve));
    }
  });
});

describe('large messages both ways (flow control against grpc-js\'s server, whose window is 64 KiB)', () => {
  test('Settings/Apply of a ~1 MiB and a ~3.9 MiB document, and the Get that returns it: the same as grpc-js', async () => {
    for (const size of [1 << 20, 4 * 1024 * 1024 - 200_000]) {
      const source = `registry.example/${'x'.repeat(size)}`;
      const document = JSON.stringify({ settings: { 'host-containers': { big: { source } } } });
      // Applied once first, so both transports then see the same (unchanged) state.
      await grpcT.unary('Settings', 'Apply', { document, format: 'json' });
      const applied = await both('Settings', 'Apply', { document, format: 'json' });
      assert.deepStrictEqual(applied, { ok: { changed: [] } });
      const got = await both('Settings', 'Get', { prefix: 'host-containers.big' });
      assert.ok('ok' in got && (got.ok as { json: string }).json.includes(source), `the ${size}-byte value came back whole`);
    }
  });
});

describe('what the fast path loads', () => {
  test('one call in a fresh process loads neither node:http2 nor grpc-js, and the idle connection lets it exit', async () => {
    const unary = new URL('../../src/cli/unary-h2.js', import.meta.url).href;
    const codecs = new URL('../../src/wire/unary-codec.js', import.meta.url).href;
    // No close(): the process must still end by itself once the call is done.
    const script = `
      const { H2Unary } = await import(${JSON.stringify(unary)});
      const { berthUnaryCodec } = await import(${JSON.stringify(codecs)});
      const res = await new H2Unary(${JSON.stringify(server.socketPath)}).call(berthUnaryCodec('Units', 'List'), {});
      console.log(JSON.stringify({ units: res.units.length, modules: process.moduleLoadList }));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await withDeadline(new Promise<number | null>((resolve) => child.on('close', resolve)), 20_000, 'the child to exit by itself').catch((e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.equal(code, 0, err);
    const { units, modules } = JSON.parse(out) as { units: number; modules: string[] };
    assert.ok(units > 0, 'the call returned units');
    assert.ok(modules.includes('NativeModule net'), 'the list is the real one');
    assert.deepEqual(modules.filter((m) => /http2|grpc/.test(m)), []);
  });

  test('the bundled berthctl answers `units` without child_process and without reading the proto JSON file', async () => {
    const bundle = new URL('../../berthctl/berthctl.cjs', import.meta.url).pathname;
    // The bundle runs as berthctl does (argv), while this wrapper reports what it loaded and which files it read.
    const script = `
      const fs = require('node:fs'); const read = []; const orig = fs.readFileSync;
      fs.readFileSync = (p, ...rest) => { read.push(String(p)); return orig(p, ...rest); };
      process.argv = [process.argv[0], ${JSON.stringify(bundle)}, '--socket', ${JSON.stringify(server.socketPath)}, 'units', '--output', 'json'];
      process.on('exit', () => process.stderr.write('\\nREPORT' + JSON.stringify({ modules: process.moduleLoadList, read })));
      require(${JSON.stringify(bundle)});`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await withDeadline(new Promise<number | null>((resolve) => child.on('close', resolve)), 20_000, 'berthctl to exit').catch((e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.equal(code, 0, err);
    assert.ok((JSON.parse(out) as unknown[]).length > 0, 'units came back');
    const { modules, read } = JSON.parse(err.slice(err.indexOf('REPORT') + 'REPORT'.length)) as { modules: string[]; read: string[] };
    assert.ok(modules.includes('NativeModule net'), 'the list is the real one');
    assert.deepEqual(modules.filter((m) => /child_process|dgram|http2|grpc/.test(m)), []);
    assert.deepEqual(read.filter((f) => f.endsWith('.proto.json')), []);
  });
});

describe('BerthClient with unary: http2 (what berthctl uses)', () => {
  test('gives what the grpc-js client gives; streams still work', async () => {
    const fast = BerthClient.connect({ socketPath: server.socketPath, unary: 'http2' });
    const slow = BerthClient.connect({ socketPath: server.socketPath });
    try {
      assert.deepStrictEqual(await fast.units.list(), await slow.units.list());
      assert.deepStrictEqual(await fast.units.get('admin'), await slow.units.get('admin'));
      assert.deepStrictEqual(await fast.settings.get(), await slow.settings.get());
      assert.deepStrictEqual(await fast.host.version(), await slow.host.version());
      assert.deepStrictEqual(await fast.images.list(), await slow.images.list());
      await assert.rejects(fast.units.get('nope'), (e: unknown) => e instanceof ApiError && e.codeName === 'NOT_FOUND' && e.message === 'unknown unit "nope"');
      const lines = [];
      for await (const l of fast.units.logs('admin', { tail: 2 })) lines.push(l);
      assert.deepStrictEqual(lines, await (async () => {
        const out = [];
        for await (const l of slow.units.logs('admin', { tail: 2 })) out.push(l);
        return out;
      })());
      const exec = fast.units.exec({ unit: 'admin', args: ['echo', 'hi'], tty: false });
      assert.equal(await exec.exitCode, 0);
    } finally {
      fast.close();
      slow.close();
    }
  });
});
