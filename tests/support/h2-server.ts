// A node:http2 (nghttp2) server on a unix socket, for the tests of berthctl's own HTTP/2 client
// (src/cli/h2/): it answers as a test tells it to, including in ways grpc-js never would (resets, GOAWAY,
// odd HTTP statuses, huge headers), so every outcome of src/cli/unary-h2.ts can be provoked.
import http2 from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface H2TestServer {
  socketPath: string;
  /** Sessions opened so far, oldest first. */
  sessions: http2.ServerHttp2Session[];
  close(): Promise<void>;
}

export type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void;

/** Calls `handle` once each request's body has arrived whole. */
export async function startH2Server(handle: StreamHandler, settings: http2.Settings = {}): Promise<H2TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-h2srv-'));
  const socketPath = join(dir, 'h2.sock');
  const server = http2.createServer({ settings });
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => {
    sessions.push(s);
    s.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('error', () => undefined);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => handle(stream, headers, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    sessions,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One gRPC message as it travels: flag byte, 4-byte length, bytes. */
export function grpcFrame(message: Buffer, flag = 0, length = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(length, 1);
  message.copy(out, 5);
  return out;
}

/** A successful gRPC answer: headers, the given DATA bytes, trailers with grpc-status 0 (or `trailers`). */
export function answer(stream: http2.ServerHttp2Stream, data: Buffer, trailers: http2.OutgoingHttpHeaders = { 'grpc-status': '0' }): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers(trailers));
  stream.end(data);
}
