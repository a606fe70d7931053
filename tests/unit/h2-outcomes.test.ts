// Every outcome of berthctl's fast unary path (src/cli/unary-h2.ts) that grpc-js's server never provokes on
// purpose, against a node:http2 (nghttp2) server that answers each path its own way: HTTP statuses, stream
// resets by code, GOAWAY, a connection dropped mid-call, the deadline, and the limits on what comes back.
// The expected words are those the node:http2 version of unary-h2.ts gave (which copied grpc-js's).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { ApiError } from '../../src/cli/client-call.js';
import { H2Unary } from '../../src/cli/unary-h2.js';
import type { UnaryCodec } from '../../src/wire/unary-codec.js';
import { answer, grpcFrame, startH2Server, type H2TestServer } from '../support/h2-server.js';
import { withDeadline } from '../support/wait.js';

const json = (body: unknown): Buffer => Buffer.from(JSON.stringify(body));

function codec(path: string): UnaryCodec {
  return {
    path,
    encode: (req) => json(req),
    decode: (res) => {
      const v = JSON.parse(res.toString()) as unknown;
      if (typeof v !== 'object' || v === null) throw new Error('not an object');
      return v;
    },
  };
}

type Outcome = { ok: unknown } | { code: number; message: string };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    // A hung call fails the test instead of hanging the suite.
    return { ok: await withDeadline(p, 15_000, 'the call to end') };
  } catch (err) {
    assert.ok(err instanceof ApiError, `an ApiError, not ${String(err)}`);
    return { code: err.code, message: err.message };
  }
}

/** What the server does for each path; the request's body is JSON. */
function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer): void {
  const path = String(headers[':path']);
  const session = stream.session!;
  const rst = /^\/rst\/(\d+)$/.exec(path);
  if (rst) return void stream.close(Number(rst[1]));
  const http = /^\/http\/(\d+)$/.exec(path);
  if (http) return void stream.respond({ ':status': Number(http[1]) }, { endStream: true });
  switch (path) {
    case '/echo':
      return answer(stream, grpcFrame(body.subarray(5)));
    case '/http200-no-status':
      return void stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { endStream: true });
    case '/status-only':
      return void stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '9', 'grpc-message': 'bad %E2%82%AC %ZZ' }, { endStream: true });
    case '/two-messages':
      return answer(stream, Buffer.concat([grpcFrame(json({ a: 1 })), grpcFrame(json({ a: 2 }))]));
    case '/too-large':
      return answer(stream, grpcFrame(Buffer.alloc(10), 0, 4 * 1024 * 1024 + 1));
    case '/compressed':
      return answer(stream, grpcFrame(json({ a: 1 }), 1));
    case '/unparsable':
      return answer(stream, grpcFrame(Buffer.from('{no')));
    case '/no-message':
      return answer(stream, Buffer.alloc(0));
    case '/error-after-message':
      return answer(stream, grpcFrame(json({ a: 1 })), { 'grpc-status': '3', 'grpc-message': 'late' });
    case '/hang':
      return;
    case '/slow':
      // Answered later, with nothing but the call's socket to keep the caller's process alive meanwhile.
      return void setTimeout(() => answer(stream, grpcFrame(json({ slow: true }))), 300);
    case '/drop':
      return void session.destroy();
    case '/goaway-error':
      return void session.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR, stream.id!);
    case '/goaway-refused':
      return void session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
    case '/goaway-graceful':
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
      return answer(stream, grpcFrame(json({ graceful: true })));
    case '/ping-first':
      // The answer waits for our PING's acknowledgement, which the client must send.
      return void session.ping(() => answer(stream, grpcFrame(json({ pinged: true }))));
    default:
      return void stream.respond({ ':status': 500 }, { endStream: true });
  }
}

let srv: H2TestServer;
before(async () => {
  srv = await startH2Server(handle);
});
after(async () => {
  await srv?.close();
});

async function call(path: string, timeoutMs?: number): Promise<Outcome> {
  const h2 = new H2Unary(srv.socketPath);
  try {
    return await outcome(h2.call(codec(path), { hello: 'world' }, timeoutMs));
  } finally {
    h2.close();
  }
}

/** [path, outcome]: the words of the node:http2 version, recorded before it was replaced (grpc-js's words). */
const EXPECTED: Array<[string, Outcome]> = [
  ['/echo', { ok: { hello: 'world' } }],
  ['/http/503', { code: 14, message: 'Received HTTP status code 503' }],
  ['/http/404', { code: 12, message: 'Received HTTP status code 404' }],
  ['/http/400', { code: 13, message: 'Received HTTP status code 400' }],
  ['/http/401', { code: 16, message: 'Received HTTP status code 401' }],
  ['/http/403', { code: 7, message: 'Received HTTP status code 403' }],
  ['/http/429', { code: 14, message: 'Received HTTP status code 429' }],
  ['/http/500', { code: 2, message: 'Received HTTP status code 500' }],
  ['/http200-no-status', { code: 13, message: 'Received RST_STREAM with code 0 (Call ended without gRPC status)' }],
  ['/status-only', { code: 9, message: 'bad %E2%82%AC %ZZ' }],
  ['/rst/0', { code: 13, message: 'Received RST_STREAM with code 0 (Call ended without gRPC status)' }],
  ['/rst/1', { code: 13, message: 'Received RST_STREAM with code 1' }],
  ['/rst/2', { code: 13, message: 'Received RST_STREAM with code 2 (Internal server error)' }],
  ['/rst/7', { code: 14, message: 'Stream refused by server' }],
  ['/rst/8', { code: 1, message: 'Call cancelled' }],
  ['/rst/11', { code: 8, message: 'Bandwidth exhausted or memory limit exceeded' }],
  ['/two-messages', { code: 12, message: 'Too many responses received' }],
  ['/too-large', { code: 8, message: 'Received message larger than max (4194305 vs 4194304)' }],
  ['/compressed', { code: 13, message: 'Received compressed message but "grpc-encoding" header was identity' }],
  ['/unparsable', { code: 13, message: "Response message parsing error: Expected property name or '}' in JSON at position 1" }],
  ['/no-message', { code: 12, message: 'No message received' }],
  ['/error-after-message', { code: 3, message: 'late' }],
  ['/drop', { code: 14, message: 'Connection dropped' }],
  ['/goaway-error', { code: 14, message: 'Connection dropped' }],
  ['/goaway-graceful', { ok: { graceful: true } }],
  ['/ping-first', { ok: { pinged: true } }],
];

describe('unary outcomes against an nghttp2 server, worded as before', () => {
  for (const [path, expected] of EXPECTED) {
    test(path, async () => {
      assert.deepStrictEqual(await call(path), expected);
    });
  }

  test('the deadline: DEADLINE_EXCEEDED, and the connection still serves the next call', async () => {
    const h2 = new H2Unary(srv.socketPath);
    try {
      assert.deepStrictEqual(await outcome(h2.call(codec('/hang'), {}, 100)), { code: 4, message: 'Deadline exceeded' });
      assert.deepStrictEqual(await outcome(h2.call(codec('/echo'), { after: 'deadline' })), { ok: { after: 'deadline' } });
      assert.equal(srv.sessions.filter((s) => !s.destroyed).length >= 1, true);
    } finally {
      h2.close();
    }
  });

  test('after a dropped connection or a GOAWAY, the next call opens a new one', async () => {
    const h2 = new H2Unary(srv.socketPath);
    try {
      await h2.call(codec('/echo'), {});
      for (const path of ['/drop', '/goaway-error', '/goaway-graceful']) {
        const before = srv.sessions.length;
        await outcome(h2.call(codec(path), {}));
        assert.deepStrictEqual(await outcome(h2.call(codec('/echo'), { path })), { ok: { path } });
        assert.equal(srv.sessions.length, before + 1, `${path}: one new connection`);
      }
    } finally {
      h2.close();
    }
  });

  test('many calls at once on one connection, each with its own answer', async () => {
    const h2 = new H2Unary(srv.socketPath);
    const before = srv.sessions.length;
    try {
      const answers = await withDeadline(Promise.all(Array.from({ length: 40 }, (_, i) => h2.call(codec('/echo'), { i }))), 15_000, 'the calls');
      assert.deepStrictEqual(answers, Array.from({ length: 40 }, (_, i) => ({ i })));
      assert.equal(srv.sessions.length, before + 1);
    } finally {
      h2.close();
    }
  });
});

describe('the process lives as long as a call, not as long as the connection', () => {
  test('a call in flight keeps a process alive; once it is answered, the idle connection lets it exit', async () => {
    const unary = new URL('../../src/cli/unary-h2.js', import.meta.url).href;
    // No timer and no close(): only the connection's socket can keep this process running.
    const script = `
      const { H2Unary } = await import(${JSON.stringify(unary)});
      const codec = { path: '/slow', encode: (r) => Buffer.from(JSON.stringify(r)), decode: (b) => JSON.parse(b.toString()) };
      new H2Unary(${JSON.stringify(srv.socketPath)}).call(codec, {}).then((r) => console.log(JSON.stringify(r)));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await withDeadline(new Promise<number | null>((resolve) => child.on('close', resolve)), 20_000, 'the child to exit by itself').catch((e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.equal(code, 0);
    assert.deepStrictEqual(JSON.parse(out), { slow: true });
  });
});

describe('a server that allows few concurrent streams', () => {
  test('calls beyond SETTINGS_MAX_CONCURRENT_STREAMS wait for a free stream, then all succeed, even after close()', async () => {
    let open = 0;
    let most = 0;
    const narrow = await startH2Server((stream, _h, body) => {
      most = Math.max(most, ++open);
      // Held a moment so the calls overlap; answered in any case.
      setImmediate(() => {
        open--;
        answer(stream, grpcFrame(body.subarray(5)));
      });
    }, { maxConcurrentStreams: 2 });
    const h2 = new H2Unary(narrow.socketPath);
    try {
      // The first call learns the server's SETTINGS (streams sent before they arrive may be refused, as
      // with any HTTP/2 client).
      await h2.call(codec('/echo'), {});
      const calls = Array.from({ length: 12 }, (_, i) => h2.call(codec('/echo'), { i }));
      // A graceful close: calls already made, even those still waiting for a stream, complete.
      h2.close();
      assert.deepStrictEqual(await withDeadline(Promise.all(calls), 15_000, 'the calls'), Array.from({ length: 12 }, (_, i) => ({ i })));
      assert.ok(most <= 2, `at most 2 streams at once, saw ${most}`);
    } finally {
      h2.close();
      await narrow.close();
    }
  });
});
