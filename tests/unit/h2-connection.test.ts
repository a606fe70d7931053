// berthctl's HTTP/2 connection (src/cli/h2/connection.ts) against two peers: nghttp2 (a node:http2 server)
// for what a real server sends — header blocks with a shared, evicting HPACK table, flow control both ways —
// and a scripted raw peer for what nghttp2 never sends on purpose (split and padded header blocks, GOAWAY,
// malformed frames), checking what our side answers on the wire.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiError } from '../../src/cli/client-call.js';
import { H2Connection, type StreamEnd } from '../../src/cli/h2/connection.js';
import {
  FLAG, FRAME, FrameReader, H2_ERROR, PREFACE, SETTING, encodeFrame, encodeGoaway, encodeSettings, encodeWindowUpdate, type Frame,
} from '../../src/cli/h2/frames.js';
import { encodeHeaders, type HeaderField } from '../../src/cli/h2/hpack.js';
import { H2Unary } from '../../src/cli/unary-h2.js';
import type { UnaryCodec } from '../../src/wire/unary-codec.js';
import { answer, grpcFrame, startH2Server, type H2TestServer } from '../support/h2-server.js';
import { withDeadline } from '../support/wait.js';

const REQUEST: HeaderField[] = [[':method', 'POST'], [':scheme', 'http'], [':authority', 'localhost'], [':path', '/t'], ['content-type', 'application/grpc']];

interface Exchange {
  blocks: Array<{ fields: HeaderField[]; endStream: boolean }>;
  data: Buffer;
  end: StreamEnd;
}

/** One stream on `conn`, all it received, once it ends. */
function exchange(conn: H2Connection, body: Buffer, fields: HeaderField[] = REQUEST): Promise<Exchange> {
  return withDeadline(new Promise((resolve) => {
    const blocks: Exchange['blocks'] = [];
    const data: Buffer[] = [];
    conn.request(fields, body, {
      onHeaders: (f, endStream) => blocks.push({ fields: f, endStream }),
      onData: (c) => data.push(c),
      onClose: (end) => resolve({ blocks, data: Buffer.concat(data), end }),
    });
  }), 20_000, 'the stream to end');
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const codec: UnaryCodec = { path: '/t', encode: (r) => json(r), decode: (b) => JSON.parse(b.toString()) as object };

async function outcome(p: Promise<unknown>): Promise<{ ok: unknown } | { code: number; message: string }> {
  try {
    // A hung call fails the test instead of hanging the suite.
    return { ok: await withDeadline(p, 15_000, 'the call to end') };
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return { code: err.code, message: err.message };
  }
}

describe('header blocks from nghttp2: what it sent is what we decode', () => {
  /** Response headers and trailers that depend on the request number: new, repeated and evicted entries. */
  function headersFor(n: number): { head: http2.OutgoingHttpHeaders; trailers: http2.OutgoingHttpHeaders } {
    const long = Buffer.from(Array.from({ length: 40 + n * 37 }, (_, i) => (i * 7 + n) % 256)).toString('base64');
    const head: http2.OutgoingHttpHeaders = {
      ':status': 200,
      'content-type': 'application/grpc',
      date: 'Mon, 21 Oct 2013 20:13:21 GMT',
      'x-repeated': 'the same on every answer',
      [`x-name-${n % 5}`]: `value ${n % 3}`,
      'x-percent': encodeURIComponent(`ü€ ${n}% — ${'漢'.repeat(n % 4)}`),
      'x-long': long,
      'x-multi': ['one', `two ${n}`, 'three'],
      'x-secret': `never indexed ${n}`,
      [http2.sensitiveHeaders]: ['x-secret'],
    };
    // Every seventh answer is larger than one frame: HEADERS plus CONTINUATIONs.
    if (n % 7 === 3) head['x-huge'] = 'h'.repeat(30_000) + long;
    return { head, trailers: { 'grpc-status': '0', 'grpc-message': encodeURIComponent(`done ${n} ✓`), 'x-trailer': long.slice(0, n) } };
  }

  /** The fields node:http2 puts on the wire for these headers, in order. */
  function expected(h: http2.OutgoingHttpHeaders): HeaderField[] {
    const out: HeaderField[] = [];
    for (const [name, value] of Object.entries(h)) {
      for (const v of Array.isArray(value) ? value : [value]) out.push([name, String(v)]);
    }
    return out;
  }

  let srv: H2TestServer;
  before(async () => {
    srv = await startH2Server((stream, headers) => {
      const { head, trailers } = headersFor(Number(headers['x-n']));
      stream.respond(head, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end(grpcFrame(json({ n: headers['x-n'] })));
    });
  });
  after(async () => {
    await srv?.close();
  });

  for (const tableSize of [4096, 200, 0]) {
    test(`60 answers on one connection, our HEADER_TABLE_SIZE ${tableSize}`, async () => {
      const conn = new H2Connection(srv.socketPath, { headerTableSize: tableSize });
      try {
        for (let n = 0; n < 60; n++) {
          const got = await exchange(conn, grpcFrame(json({})), [...REQUEST, ['x-n', String(n)]]);
          const { head, trailers } = headersFor(n);
          assert.equal(got.blocks.length, 2, `answer ${n}: headers and trailers`);
          const sorted = (f: HeaderField[]): HeaderField[] => [...f].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          // nghttp2 may reorder fields of different names; the values of one name keep their order.
          assert.deepStrictEqual(sorted(got.blocks[0]!.fields), sorted(expected(head)), `answer ${n}: headers`);
          assert.deepStrictEqual(got.blocks[1], { fields: expected(trailers), endStream: true }, `answer ${n}: trailers`);
          assert.deepStrictEqual(got.end, { kind: 'ended' });
        }
      } finally {
        conn.close();
      }
    });
  }
});

describe('flow control with nghttp2', () => {
  let srv: H2TestServer;
  before(async () => {
    // A tiny window for what we send, and large frames allowed: we must wait for WINDOW_UPDATEs, and still
    // send frames of 16 KiB at most.
    srv = await startH2Server((stream, headers, body) => {
      const size = Number(headers['x-answer-size'] ?? -1);
      answer(stream, size < 0 ? grpcFrame(body.subarray(5)) : grpcFrame(Buffer.alloc(size, 0x61)));
    }, { initialWindowSize: 1000, maxFrameSize: 65536 });
  });
  after(async () => {
    await srv?.close();
  });

  test('a 1 MiB request through a 1000-byte window arrives whole, and comes back whole', async () => {
    const body = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 31) % 251));
    const conn = new H2Connection(srv.socketPath);
    try {
      const got = await exchange(conn, grpcFrame(body));
      assert.equal(got.data.length, body.length + 5);
      assert.ok(got.data.subarray(5).equals(body), 'the same bytes');
    } finally {
      conn.close();
    }
  });

  test('answers just under 4 MiB arrive whole, three at once on one connection', async () => {
    const size = 4 * 1024 * 1024 - 64;
    const conn = new H2Connection(srv.socketPath);
    try {
      const got = await Promise.all([1, 2, 3].map(() => exchange(conn, grpcFrame(Buffer.alloc(0)), [...REQUEST, ['x-answer-size', String(size)]])));
      for (const g of got) {
        assert.equal(g.data.length, size + 5);
        assert.ok(g.data.subarray(5).every((b) => b === 0x61));
      }
    } finally {
      conn.close();
    }
  });
});

/** A peer that speaks raw frames: it records what we send and answers each request as `onRequest` says. */
interface RawPeer {
  socketPath: string;
  /** Frames we sent, on every connection, in order. */
  received: Frame[];
  /** Writes frames to the latest connection. */
  send: Send;
  close(): Promise<void>;
}

type Send = (...frames: Buffer[]) => void;


async function rawPeer(onRequest: (send: Send, streamId: number) => void, opts: { first?: Buffer } = {}): Promise<RawPeer> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-h2raw-'));
  const socketPath = join(dir, 'raw.sock');
  const received: Frame[] = [];
  const sockets = new Set<net.Socket>();
  let latest: net.Socket | undefined;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    latest = socket;
    socket.on('error', () => undefined);
    const send: Send = (...frames) => socket.write(Buffer.concat(frames));
    send(opts.first ?? encodeSettings([]));
    const reader = new FrameReader(1 << 24);
    let preface = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (preface.length < PREFACE.length) {
        preface = Buffer.concat([preface, chunk]);
        if (preface.length < PREFACE.length) return;
        chunk = preface.subarray(PREFACE.length);
      }
      for (const f of reader.push(chunk)) {
        received.push(f);
        if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) send(encodeFrame(FRAME.SETTINGS, FLAG.ACK, 0));
        if ((f.type === FRAME.DATA || f.type === FRAME.HEADERS) && f.flags & FLAG.END_STREAM) onRequest(send, f.streamId);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    received,
    send: (...frames) => latest?.write(Buffer.concat(frames)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const OK_HEAD = encodeHeaders([[':status', '200'], ['content-type', 'application/grpc']]);
const OK_TRAILERS = encodeHeaders([['grpc-status', '0']]);

/** A PADDED frame payload: pad length, the data, the padding. */
function padded(data: Buffer, pad: number): Buffer {
  return Buffer.concat([Buffer.from([pad]), data, Buffer.alloc(pad)]);
}

function goaways(peer: RawPeer): number[] {
  return peer.received.filter((f) => f.type === FRAME.GOAWAY).map((f) => f.payload.readUInt32BE(4));
}

describe('a raw peer: what nghttp2 does not send on purpose', () => {
  test('a header block split over HEADERS (padded, with priority) and CONTINUATIONs; padded DATA', async () => {
    const peer = await rawPeer((send, id) => {
      const head = Buffer.concat([Buffer.from([0x80, 0, 0, 0, 16]), OK_HEAD]); // priority: exclusive, depends on 0, weight 16
      send(
        encodeFrame(FRAME.HEADERS, FLAG.PADDED | FLAG.PRIORITY, id, padded(head.subarray(0, 7), 3)),
        encodeFrame(FRAME.CONTINUATION, 0, id, head.subarray(7, 9)),
        encodeFrame(FRAME.CONTINUATION, FLAG.END_HEADERS, id, head.subarray(9)),
        encodeFrame(FRAME.DATA, FLAG.PADDED, id, padded(grpcFrame(json({ split: true })), 10)),
        encodeFrame(FRAME.PRIORITY, 0, id, Buffer.alloc(5)),
        encodeFrame(0xfa, 0, 0, Buffer.from('an unknown frame type is ignored')),
        encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, OK_TRAILERS),
      );
    });
    const h2 = new H2Unary(peer.socketPath);
    try {
      assert.deepStrictEqual(await outcome(h2.call(codec, {})), { ok: { split: true } });
    } finally {
      h2.close();
      await peer.close();
    }
  });

  test('GOAWAY: streams above its last id are refused, an error code drops the connection', async () => {
    for (const [last, code, want] of [
      [0, H2_ERROR.NO_ERROR, { code: 14, message: 'Stream refused by server' }],
      [1, H2_ERROR.PROTOCOL_ERROR, { code: 14, message: 'Connection dropped' }],
    ] as const) {
      const peer = await rawPeer((send) => send(encodeGoaway(last, code)));
      const h2 = new H2Unary(peer.socketPath);
      try {
        assert.deepStrictEqual(await outcome(h2.call(codec, {})), want);
      } finally {
        h2.close();
        await peer.close();
      }
    }
  });

  test('PING is answered with the same payload; the answer waits for it', async () => {
    const payload = Buffer.from('8 bytes!');
    const peer = await rawPeer((send, id) => {
      send(encodeFrame(FRAME.PING, 0, 0, payload));
      const check = setInterval(() => {
        if (!peer.received.some((f) => f.type === FRAME.PING && f.flags & FLAG.ACK && f.payload.equals(payload))) return;
        clearInterval(check);
        send(encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS, id, OK_HEAD), encodeFrame(FRAME.DATA, 0, id, grpcFrame(json({ pong: true }))),
          encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, OK_TRAILERS));
      }, 5);
    });
    const h2 = new H2Unary(peer.socketPath);
    try {
      assert.deepStrictEqual(await outcome(withDeadline(h2.call(codec, {}), 10_000, 'the answer')), { ok: { pong: true } });
    } finally {
      h2.close();
      await peer.close();
    }
  });

  test('our first frames: SETTINGS (no push, a 4 MiB window), the connection window opened to 4 MiB', async () => {
    const peer = await rawPeer((send, id) => send(encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, encodeHeaders([[':status', '200'], ['grpc-status', '5'], ['grpc-message', 'x']]))));
    const h2 = new H2Unary(peer.socketPath);
    try {
      assert.deepStrictEqual(await outcome(h2.call(codec, {})), { code: 5, message: 'x' });
      const [settings, update] = peer.received;
      assert.equal(settings?.type, FRAME.SETTINGS);
      const values = new Map(Array.from({ length: settings!.payload.length / 6 }, (_, i) => [settings!.payload.readUInt16BE(6 * i), settings!.payload.readUInt32BE(6 * i + 2)]));
      assert.equal(values.get(SETTING.ENABLE_PUSH), 0);
      assert.equal(values.get(SETTING.INITIAL_WINDOW_SIZE), 4 * 1024 * 1024);
      assert.equal(update?.type, FRAME.WINDOW_UPDATE);
      assert.equal(update!.payload.readUInt32BE(0) + 65535, 4 * 1024 * 1024);
      const stream = peer.received.find((f) => f.type === FRAME.HEADERS);
      assert.equal(stream?.streamId, 1, 'the first stream is 1');
    } finally {
      h2.close();
      await peer.close();
    }
  });

  test("the peer's window for our sends: no more DATA than it allows until its WINDOW_UPDATE", async () => {
    const peer = await rawPeer((send, id) => send(encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, encodeHeaders([[':status', '200'], ['grpc-status', '0']]))),
      { first: encodeSettings([[SETTING.INITIAL_WINDOW_SIZE, 100]]) });
    const conn = new H2Connection(peer.socketPath);
    try {
      // Once the peer's SETTINGS are in (a first stream learns them), a 300-byte body goes out 100 bytes at a time.
      await exchange(conn, Buffer.alloc(0));
      const pending = exchange(conn, Buffer.alloc(300, 1));
      const sent = (): number => peer.received.filter((f) => f.type === FRAME.DATA && f.streamId === 3).reduce((n, f) => n + f.payload.length, 0);
      const until = async (n: number, what: string): Promise<void> =>
        withDeadline((async () => { while (sent() < n) await new Promise((r) => setTimeout(r, 5)); })(), 5000, what);
      await until(100, 'the first 100 bytes');
      // A round trip later, still 100: it waits for the window (and the connection's is large enough).
      await exchange(conn, Buffer.alloc(0));
      assert.equal(sent(), 100, 'stopped at the window');
      peer.send(encodeWindowUpdate(3, 150));
      await until(250, '150 more bytes');
      await exchange(conn, Buffer.alloc(0));
      assert.equal(sent(), 250, 'stopped at the window again');
      assert.ok(!peer.received.some((f) => f.type === FRAME.DATA && f.streamId === 3 && f.flags & FLAG.END_STREAM), 'not ended yet');
      peer.send(encodeWindowUpdate(3, 1000));
      const got = await pending;
      assert.equal(sent(), 300);
      assert.deepStrictEqual(got.end, { kind: 'ended' });
    } finally {
      conn.destroy();
      await peer.close();
    }
  });

  test('malformed input is a connection error: GOAWAY with its code, and the call fails as grpc-js says', async () => {
    const cases: Array<[string, (send: Send, id: number) => void, number]> = [
      ['a header index beyond the tables', (send, id) => send(encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS, id, Buffer.from([0xff, 0x40]))), H2_ERROR.COMPRESSION_ERROR],
      ['a frame larger than our SETTINGS_MAX_FRAME_SIZE', (send, id) => send(encodeFrame(FRAME.DATA, 0, id, Buffer.alloc(16385))), H2_ERROR.FRAME_SIZE_ERROR],
      ['DATA on a stream we never opened', (send) => send(encodeFrame(FRAME.DATA, 0, 9, Buffer.alloc(1))), H2_ERROR.PROTOCOL_ERROR],
      ['PUSH_PROMISE with push disabled', (send, id) => send(encodeFrame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, id, Buffer.alloc(4))), H2_ERROR.PROTOCOL_ERROR],
      ['padding longer than the frame', (send, id) => send(encodeFrame(FRAME.DATA, FLAG.PADDED, id, Buffer.from([5, 1, 2]))), H2_ERROR.PROTOCOL_ERROR],
      ['a frame between HEADERS and its CONTINUATION', (send, id) => send(encodeFrame(FRAME.HEADERS, 0, id, OK_HEAD), encodeFrame(FRAME.PING, 0, 0, Buffer.alloc(8))), H2_ERROR.PROTOCOL_ERROR],
    ];
    for (const [what, misbehave, code] of cases) {
      const peer = await rawPeer(misbehave);
      const h2 = new H2Unary(peer.socketPath);
      try {
        assert.deepStrictEqual(await outcome(withDeadline(h2.call(codec, {}), 10_000, what)), { code: 14, message: 'Connection dropped' }, what);
        await withDeadline((async () => { while (goaways(peer).length === 0) await new Promise((r) => setTimeout(r, 5)); })(), 5000, `our GOAWAY (${what})`);
        assert.deepEqual(goaways(peer), [code], what);
      } finally {
        h2.close();
        await peer.close();
      }
    }
  });

  test('a peer whose first frame is not SETTINGS does not speak HTTP/2: "No connection established"', async () => {
    const peer = await rawPeer(() => undefined, { first: encodeFrame(FRAME.PING, 0, 0, Buffer.alloc(8)) });
    const h2 = new H2Unary(peer.socketPath);
    try {
      const got = await outcome(h2.call(codec, {}));
      assert.equal((got as { code: number }).code, 14);
      assert.match((got as { message: string }).message, /^No connection established\. Last error: Protocol error \(\d{4}-\d\d-\d\dT[^)]*\)\. Resolution note: $/);
    } finally {
      h2.close();
      await peer.close();
    }
  });
});
