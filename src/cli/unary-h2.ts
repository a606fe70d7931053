// berth.v1 unary calls over node:http2 instead of grpc-js: what a one-shot berthctl needs, without the
// ~100 ms of loading grpc-js and protobufjs. gRPC's wire format for one request and one response is small:
// a POST with `content-type: application/grpc` and `te: trailers`, each message framed as a flag byte and a
// 4-byte big-endian length, the outcome in the trailers (`grpc-status`, `grpc-message` percent-encoded).
// The server stays grpc-js. Outcomes are worded as grpc-js words them (status details, connection errors,
// its limits), so the user sees the same message whichever transport made the call; tests/unit/unary-h2.test.ts
// holds the two side by side.
import http2 from 'node:http2';
import net from 'node:net';
import type { UnaryCodec } from '../wire/unary-codec.js';
import { ApiError, STATUS, statusError } from './client-call.js';

/** grpc-js's default limit on a received message. */
const MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

/** What grpc-js answers for an HTTP status other than 200 with no gRPC status. */
function httpStatusError(status: number): ApiError {
  const code = status === 400 ? STATUS.INTERNAL : status === 401 ? 16 : status === 403 ? 7 : status === 404 ? STATUS.UNIMPLEMENTED
    : [429, 502, 503, 504].includes(status) ? STATUS.UNAVAILABLE : STATUS.UNKNOWN;
  return statusError(code, `Received HTTP status code ${status}`);
}

/** What grpc-js answers for a stream reset without a gRPC status. */
function resetError(rstCode: number): ApiError {
  const c = http2.constants;
  if (rstCode === c.NGHTTP2_NO_ERROR) return statusError(STATUS.INTERNAL, `Received RST_STREAM with code ${rstCode} (Call ended without gRPC status)`);
  if (rstCode === c.NGHTTP2_REFUSED_STREAM) return statusError(STATUS.UNAVAILABLE, 'Stream refused by server');
  if (rstCode === c.NGHTTP2_CANCEL) return statusError(STATUS.CANCELLED, 'Call cancelled');
  if (rstCode === c.NGHTTP2_ENHANCE_YOUR_CALM) return statusError(STATUS.RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded');
  if (rstCode === c.NGHTTP2_INTERNAL_ERROR) return statusError(STATUS.INTERNAL, `Received RST_STREAM with code ${rstCode} (Internal server error)`);
  return statusError(STATUS.INTERNAL, `Received RST_STREAM with code ${rstCode}`);
}

function decodeMessage(raw: string): string {
  try {
    return decodeURI(raw);
  } catch {
    return raw;
  }
}

/** One HTTP/2 connection to berthd's socket, opened on the first call and again after it is lost. */
interface Connection {
  session: http2.ClientHttp2Session;
  /** The socket connected; HTTP/2 settings arrived from the server. */
  connected: boolean;
  settled: boolean;
  error: Error | undefined;
}

export class H2Unary {
  private conn: Connection | undefined;
  private active = 0;

  constructor(private readonly socketPath: string) {}

  close(): void {
    this.conn?.session.close();
    this.conn = undefined;
  }

  private connection(): Connection {
    const current = this.conn;
    if (current && !current.session.closed && !current.session.destroyed && current.error === undefined) return current;
    const socket = net.connect(this.socketPath);
    const session = http2.connect('http://localhost', { createConnection: () => socket });
    const conn: Connection = { session, connected: false, settled: false, error: undefined };
    socket.once('connect', () => (conn.connected = true));
    socket.once('error', (err: Error) => (conn.error ??= err));
    session.once('remoteSettings', () => (conn.settled = true));
    session.on('error', (err: Error) => (conn.error ??= err));
    // Like grpc-js: an idle connection does not keep the process alive.
    session.unref();
    this.conn = conn;
    return conn;
  }

  /** The failure grpc-js reports when the connection, not the call, went wrong. */
  private static connectionError(conn: Connection, streamError?: Error): ApiError {
    const error = conn.error ?? streamError;
    if (!conn.connected) return statusError(STATUS.UNAVAILABLE, `No connection established. Last error: ${String(error)}. Resolution note: `);
    if (!conn.settled) {
      const why = `${(error?.message ?? 'Failed to connect').trim()} (${new Date().toISOString()})`;
      return statusError(STATUS.UNAVAILABLE, `No connection established. Last error: ${why}. Resolution note: `);
    }
    return statusError(STATUS.UNAVAILABLE, 'Connection dropped');
  }

  async call(codec: UnaryCodec, request: object, timeoutMs?: number): Promise<object> {
    let body: Buffer;
    try {
      body = codec.encode(request);
    } catch (err) {
      throw statusError(STATUS.INTERNAL, `Request message serialization failure: ${err instanceof Error ? err.message : String(err)}`);
    }
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);

    const conn = this.connection();
    if (this.active++ === 0) conn.session.ref();
    try {
      return await this.exchange(conn, codec, frame, timeoutMs);
    } finally {
      if (--this.active === 0 && !conn.session.destroyed) conn.session.unref();
    }
  }

  private exchange(conn: Connection, codec: UnaryCodec, frame: Buffer, timeoutMs: number | undefined): Promise<object> {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': codec.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
      'user-agent': 'berthctl',
    };
    if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(0, Math.ceil(timeoutMs))}m`;

    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = conn.session.request(headers);
      } catch {
        // The session failed before the request could be made (it is closing or destroyed).
        reject(H2Unary.connectionError(conn));
        return;
      }
      let httpStatus = 0;
      let status: { code: number; details: string } | undefined;
      let failure: ApiError | undefined;
      let pending: Buffer = Buffer.alloc(0);
      let message: Buffer | undefined;
      let streamError: Error | undefined;

      const fail = (err: ApiError): void => {
        failure ??= err;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      const statusFrom = (h: http2.IncomingHttpHeaders): void => {
        const raw = h['grpc-status'];
        if (raw === undefined || status) return;
        const details = h['grpc-message'];
        status = { code: Number(raw), details: typeof details === 'string' ? decodeMessage(details) : '' };
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => fail(statusError(STATUS.DEADLINE_EXCEEDED, 'Deadline exceeded')), timeoutMs);

      stream.on('response', (h) => {
        httpStatus = Number(h[':status']);
        statusFrom(h); // a trailers-only response
      });
      stream.on('trailers', statusFrom);
      stream.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && failure === undefined) {
          const size = pending.readUInt32BE(1);
          if (size > MAX_RECEIVE_BYTES) return fail(statusError(STATUS.RESOURCE_EXHAUSTED, `Received message larger than max (${size} vs ${MAX_RECEIVE_BYTES})`));
          if (pending.length < 5 + size) return;
          if (pending[0] !== 0) return fail(statusError(STATUS.INTERNAL, 'Received compressed message but "grpc-encoding" header was identity'));
          if (message !== undefined) return fail(statusError(STATUS.UNIMPLEMENTED, 'Too many responses received'));
          message = pending.subarray(5, 5 + size);
          pending = pending.subarray(5 + size);
        }
      });
      // The outcome is decided on close; a lost connection may reach the stream before the session says so.
      stream.on('error', (err: Error) => (streamError = err));
      stream.on('close', () => {
        if (timer) clearTimeout(timer);
        if (failure) return reject(failure);
        if (status) {
          if (status.code !== 0) return reject(statusError(status.code, status.details));
          if (message === undefined) return reject(statusError(STATUS.UNIMPLEMENTED, 'No message received'));
          try {
            return resolve(codec.decode(message));
          } catch (err) {
            return reject(statusError(STATUS.INTERNAL, `Response message parsing error: ${err instanceof Error ? err.message : String(err)}`));
          }
        }
        if (conn.error !== undefined || conn.session.destroyed) return reject(H2Unary.connectionError(conn, streamError));
        if (httpStatus !== 0 && httpStatus !== 200) return reject(httpStatusError(httpStatus));
        reject(resetError(stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR));
      });
      stream.end(frame);
    });
  }
}
