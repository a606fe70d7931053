// berth.v1 unary calls over our own HTTP/2 client (./h2/, on node:net) instead of grpc-js: what a one-shot
// berthctl needs, without the ~100 ms of loading grpc-js and protobufjs, nor the ~17 ms of node:http2.
// gRPC's wire format for one request and one response is small: a POST with `content-type: application/grpc`
// and `te: trailers`, each message framed as a flag byte and a 4-byte big-endian length, the outcome in the
// trailers (`grpc-status`, `grpc-message` percent-encoded). The server stays grpc-js. Outcomes are worded as
// grpc-js words them (status details, connection errors, its limits), so the user sees the same message
// whichever transport made the call; tests/unit/unary-h2.test.ts holds the two side by side, and
// tests/unit/h2-outcomes.test.ts provokes the rest with an nghttp2 server.
import type { UnaryCodec } from '../wire/unary-codec.js';
import { ApiError, STATUS, statusError } from './client-call.js';
import { H2Connection, type StreamEnd } from './h2/connection.js';
import { H2_ERROR } from './h2/frames.js';
import type { HeaderField } from './h2/hpack.js';

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
  if (rstCode === H2_ERROR.NO_ERROR) return statusError(STATUS.INTERNAL, `Received RST_STREAM with code ${rstCode} (Call ended without gRPC status)`);
  if (rstCode === H2_ERROR.REFUSED_STREAM) return statusError(STATUS.UNAVAILABLE, 'Stream refused by server');
  if (rstCode === H2_ERROR.CANCEL) return statusError(STATUS.CANCELLED, 'Call cancelled');
  if (rstCode === H2_ERROR.ENHANCE_YOUR_CALM) return statusError(STATUS.RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded');
  if (rstCode === H2_ERROR.INTERNAL_ERROR) return statusError(STATUS.INTERNAL, `Received RST_STREAM with code ${rstCode} (Internal server error)`);
  return statusError(STATUS.INTERNAL, `Received RST_STREAM with code ${rstCode}`);
}

function decodeMessage(raw: string): string {
  try {
    return decodeURI(raw);
  } catch {
    return raw;
  }
}

/** The failure grpc-js reports when the connection, not the call, went wrong. */
function connectionError(conn: H2Connection): ApiError {
  const error = conn.error;
  if (!conn.connected) return statusError(STATUS.UNAVAILABLE, `No connection established. Last error: ${String(error)}. Resolution note: `);
  if (!conn.settled) {
    const why = `${(error?.message ?? 'Failed to connect').trim()} (${new Date().toISOString()})`;
    return statusError(STATUS.UNAVAILABLE, `No connection established. Last error: ${why}. Resolution note: `);
  }
  return statusError(STATUS.UNAVAILABLE, 'Connection dropped');
}

/**
 * The gRPC messages in a stream's DATA, which cuts them anywhere. Chunks are kept in a list and joined once
 * per message, so a 4 MiB answer in 16 KiB frames is not copied over and over.
 */
class MessageReader {
  private chunks: Buffer[] = [];
  private length = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The next message's flag and size once its 5-byte prefix is here. */
  prefix(): { compressed: boolean; size: number } | undefined {
    if (this.length < 5) return undefined;
    const head = this.chunks[0]!.length >= 5 ? this.chunks[0]! : this.join();
    return { compressed: head[0] !== 0, size: head.readUInt32BE(1) };
  }

  /** The next message once all of it is here. */
  take(size: number): Buffer | undefined {
    if (this.length < 5 + size) return undefined;
    const all = this.join();
    const message = all.subarray(5, 5 + size);
    this.chunks = all.length > 5 + size ? [all.subarray(5 + size)] : [];
    this.length -= 5 + size;
    return message;
  }

  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }
}

export class H2Unary {
  private conn: H2Connection | undefined;

  constructor(private readonly socketPath: string) {}

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  /** One HTTP/2 connection to berthd's socket, opened on the first call and again after it is lost. */
  private connection(): H2Connection {
    const current = this.conn;
    if (current?.usable) return current;
    // It keeps the process alive only while a call is in flight, as grpc-js's channel does.
    const conn = new H2Connection(this.socketPath);
    this.conn = conn;
    return conn;
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

    return this.exchange(this.connection(), codec, frame, timeoutMs);
  }

  private exchange(conn: H2Connection, codec: UnaryCodec, frame: Buffer, timeoutMs: number | undefined): Promise<object> {
    // What node:http2 sent for grpc-js's wire format: pseudo-headers first.
    const headers: HeaderField[] = [
      [':method', 'POST'], [':scheme', 'http'], [':authority', 'localhost'], [':path', codec.path],
      ['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-accept-encoding', 'identity'], ['user-agent', 'berthctl'],
    ];
    if (timeoutMs !== undefined) headers.push(['grpc-timeout', `${Math.max(0, Math.ceil(timeoutMs))}m`]);

    return new Promise((resolve, reject) => {
      let httpStatus = 0;
      let status: { code: number; details: string } | undefined;
      let failure: ApiError | undefined;
      let message: Buffer | undefined;
      const reader = new MessageReader();

      const fail = (err: ApiError): void => {
        failure ??= err;
        stream?.cancel(H2_ERROR.CANCEL);
      };
      const statusFrom = (fields: HeaderField[]): void => {
        const raw = fields.find(([n]) => n === 'grpc-status')?.[1];
        if (raw === undefined || status) return;
        const details = fields.find(([n]) => n === 'grpc-message')?.[1];
        status = { code: Number(raw), details: details === undefined ? '' : decodeMessage(details) };
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => fail(statusError(STATUS.DEADLINE_EXCEEDED, 'Deadline exceeded')), timeoutMs);

      const onData = (chunk: Buffer): void => {
        reader.push(chunk);
        for (let p = reader.prefix(); p && failure === undefined; p = reader.prefix()) {
          if (p.size > MAX_RECEIVE_BYTES) return fail(statusError(STATUS.RESOURCE_EXHAUSTED, `Received message larger than max (${p.size} vs ${MAX_RECEIVE_BYTES})`));
          const next = reader.take(p.size);
          if (next === undefined) return;
          if (p.compressed) return fail(statusError(STATUS.INTERNAL, 'Received compressed message but "grpc-encoding" header was identity'));
          if (message !== undefined) return fail(statusError(STATUS.UNIMPLEMENTED, 'Too many responses received'));
          message = next;
        }
      };
      // The outcome is decided when the stream ends, in grpc-js's order of precedence.
      const onClose = (end: StreamEnd): void => {
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
        if (end.kind === 'connection') return reject(connectionError(conn));
        if (httpStatus !== 0 && httpStatus !== 200) return reject(httpStatusError(httpStatus));
        reject(resetError(end.kind === 'reset' ? end.code : H2_ERROR.NO_ERROR));
      };

      let stream: { cancel(code: number): void } | undefined;
      try {
        stream = conn.request(headers, frame, {
          onHeaders: (fields) => {
            // The first block is the response (maybe trailers-only), a later one the trailers.
            if (httpStatus === 0) httpStatus = Number(fields.find(([n]) => n === ':status')?.[1] ?? 0);
            statusFrom(fields);
          },
          onData,
          onClose,
        });
      } catch {
        // The connection failed before the request could be made.
        if (timer) clearTimeout(timer);
        reject(connectionError(conn));
      }
    });
  }
}
