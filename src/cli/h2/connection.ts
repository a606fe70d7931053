// One HTTP/2 client connection over a unix socket (RFC 9113), on node:net alone: loading node:http2 costs
// berthctl ~17 ms of its ~100 ms budget. It does what a gRPC unary client needs and what the RFC requires
// of any client: the preface and SETTINGS, the peer's SETTINGS honoured (frame size, initial window for our
// sends, concurrent streams), flow control both ways, PING answered, header blocks decoded in order (the
// HPACK table is shared by every stream), odd stream ids, several streams at once, GOAWAY, and every open
// stream failed when the connection fails. Frames are in ./frames.ts, header compression in ./hpack.ts.
import net from 'node:net';
import {
  ConnectionFault, DEFAULT_MAX_FRAME_SIZE, FLAG, FRAME, FrameReader, H2_ERROR, MAX_WINDOW, PREFACE, SETTING, encodeFrame,
  encodeGoaway, encodeHeaderBlock, encodeRstStream, encodeSettings, encodeWindowUpdate, framePayload, parseSettings, type Frame,
} from './frames.js';
import { DEFAULT_TABLE_SIZE, HpackDecoder, HpackError, encodeHeaders, type HeaderField } from './hpack.js';
import { StreamState, type StreamEnd, type StreamEvents } from './stream.js';

export type { StreamEnd, StreamEvents } from './stream.js';

/** The RFC's initial window, before any SETTINGS or WINDOW_UPDATE. */
const RFC_INITIAL_WINDOW = 65535;
/**
 * What we let the server send before it must wait for us: a whole gRPC message at grpc-js's 4 MiB limit,
 * so an answer never stalls on a round trip; WINDOW_UPDATEs still follow every quarter consumed.
 */
const RECEIVE_WINDOW = 4 * 1024 * 1024;

export interface ConnectionOptions {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the largest HPACK dynamic table the server may use towards us. */
  headerTableSize?: number;
}

export interface StreamHandle {
  /** Ends the stream now with RST_STREAM `code`; its onClose reports the reset. */
  cancel(code: number): void;
}

export class H2Connection {
  /** The socket connected. */
  connected = false;
  /** The server's first SETTINGS arrived: it speaks HTTP/2. */
  settled = false;
  /** Why the connection failed (a socket error, a protocol fault, a GOAWAY with an error code). */
  error: Error | undefined;
  /** No stream will ever complete on it any more. */
  closed = false;

  private readonly socket: net.Socket;
  private readonly reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  private readonly decoder: HpackDecoder;
  private readonly streams = new Map<number, StreamState>();
  private readonly waiting: StreamState[] = [];
  private nextStreamId = 1;
  /** A GOAWAY came, or close() was called: no new stream, and the socket ends once the last one does. */
  private draining = false;
  /** A header block cut into HEADERS + CONTINUATION frames, until END_HEADERS. */
  private block: { streamId: number; endStream: boolean; parts: Buffer[] } | undefined;
  private peer = { maxConcurrentStreams: Infinity, initialWindow: RFC_INITIAL_WINDOW };
  private sendWindow = RFC_INITIAL_WINDOW;
  private receiveWindow = RECEIVE_WINDOW;

  constructor(socketPath: string, options: ConnectionOptions = {}) {
    const tableSize = options.headerTableSize ?? DEFAULT_TABLE_SIZE;
    this.decoder = new HpackDecoder(tableSize);
    this.socket = net.connect(socketPath);
    this.socket.once('connect', () => (this.connected = true));
    this.socket.on('data', (chunk: Buffer) => this.received(chunk));
    // A peer that hangs up during the handshake (EPIPE, ECONNRESET) "failed to connect", as grpc-js says:
    // that socket error is not the connection's error.
    this.socket.on('error', (err: Error) => {
      if (!this.connected || this.settled) this.error ??= err;
    });
    this.socket.once('close', () => this.finish());
    const settings: Array<[number, number]> = [[SETTING.ENABLE_PUSH, 0], [SETTING.INITIAL_WINDOW_SIZE, RECEIVE_WINDOW]];
    if (tableSize !== DEFAULT_TABLE_SIZE) settings.push([SETTING.HEADER_TABLE_SIZE, tableSize]);
    // Written now, sent on connect: the preface, our SETTINGS and the connection window opened to match.
    this.send(Buffer.concat([PREFACE, encodeSettings(settings), encodeWindowUpdate(0, RECEIVE_WINDOW - RFC_INITIAL_WINDOW)]));
    this.socket.unref();
  }

  /** Whether a new stream may still be started here. */
  get usable(): boolean {
    return !this.closed && !this.draining && this.error === undefined && this.nextStreamId <= MAX_WINDOW;
  }

  /** Starts a stream: HEADERS, then `body` as DATA (flow control permitting) ending the stream. */
  request(fields: ReadonlyArray<HeaderField>, body: Buffer, events: StreamEvents): StreamHandle {
    if (!this.usable) throw new Error('the connection is closing');
    const stream = new StreamState(encodeHeaders(fields), body, events);
    if (this.streams.size < this.peer.maxConcurrentStreams) this.open(stream);
    else this.waiting.push(stream);
    this.socket.ref();
    return { cancel: (code) => this.cancel(stream, code) };
  }

  /** Graceful: open streams finish, then the socket ends. */
  close(): void {
    this.draining = true;
    this.endIfIdle();
  }

  /** Now: every open stream fails with the connection error. */
  destroy(error?: Error): void {
    if (error) this.error ??= error;
    this.socket.destroy();
    this.finish();
  }

  /** Nothing is written once the socket ended (a GOAWAY went out) or is gone. */
  private send(frame: Buffer): void {
    if (!this.socket.writableEnded && !this.socket.destroyed) this.socket.write(frame);
  }

  private open(stream: StreamState): void {
    stream.id = this.nextStreamId;
    this.nextStreamId += 2;
    stream.sendWindow = this.peer.initialWindow;
    stream.receiveWindow = RECEIVE_WINDOW;
    this.streams.set(stream.id, stream);
    const endStream = stream.body.length === 0;
    if (endStream) stream.endSent = true;
    this.socket.cork();
    for (const f of encodeHeaderBlock(stream.id, stream.headerBlock, endStream)) this.send(f);
    this.flush();
    this.socket.uncork();
  }

  /** Sends what the windows allow of every stream's body, in frames of at most 16 KiB. */
  private flush(): void {
    if (this.closed) return;
    this.socket.cork();
    for (const s of this.streams.values()) {
      while (!s.endSent) {
        const n = Math.min(s.body.length, DEFAULT_MAX_FRAME_SIZE, this.sendWindow, s.sendWindow);
        if (n <= 0 && s.body.length > 0) break;
        const part = s.body.subarray(0, n);
        s.body = s.body.subarray(n);
        s.endSent = s.body.length === 0;
        this.sendWindow -= n;
        s.sendWindow -= n;
        this.send(encodeFrame(FRAME.DATA, s.endSent ? FLAG.END_STREAM : 0, s.id, part));
      }
    }
    this.socket.uncork();
  }

  private cancel(stream: StreamState, code: number): void {
    if (stream.done) return;
    if (stream.id !== 0) this.send(encodeRstStream(stream.id, code));
    this.closeStream(stream, { kind: 'reset', code });
  }

  private closeStream(stream: StreamState, end: StreamEnd): void {
    if (stream.done) return;
    stream.done = true;
    this.streams.delete(stream.id);
    const w = this.waiting.indexOf(stream);
    if (w >= 0) this.waiting.splice(w, 1);
    stream.events.onClose(end);
    // Like grpc-js: an idle connection does not keep the process alive; a call in flight does.
    if (this.streams.size === 0 && this.waiting.length === 0) this.socket.unref();
    if (this.closed) return;
    // Streams still waiting were accepted before a close() (a GOAWAY refuses them at once): they go out.
    while (this.waiting.length > 0 && this.streams.size < this.peer.maxConcurrentStreams) this.open(this.waiting.shift()!);
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (!this.draining || this.closed || this.socket.writableEnded || this.streams.size > 0 || this.waiting.length > 0) return;
    this.socket.end(encodeGoaway(0, H2_ERROR.NO_ERROR));
  }

  /** The socket is gone (or we gave up on it): whatever is still open fails with the connection. */
  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values(), ...this.waiting]) this.closeStream(s, { kind: 'connection' });
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with its code, then the socket is closed. */
  private fault(f: ConnectionFault): void {
    if (this.closed) return;
    // node:http2 words every such failure "Protocol error"; the reason stays in `cause`.
    this.error ??= new Error('Protocol error', { cause: f });
    this.socket.end(encodeGoaway(0, f.code));
    this.socket.destroySoon();
    this.finish();
  }

  private received(chunk: Buffer): void {
    try {
      for (const frame of this.reader.push(chunk)) {
        if (this.closed) return;
        this.frame(frame);
      }
    } catch (err) {
      this.fault(err instanceof ConnectionFault ? err : new ConnectionFault(H2_ERROR.INTERNAL_ERROR, String(err)));
    }
  }

  private frame(f: Frame): void {
    if (this.block && f.type !== FRAME.CONTINUATION) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `frame of type ${f.type} inside a header block`);
    // RFC 9113 §3.4: the server's preface is a SETTINGS frame.
    if (!this.settled && f.type !== FRAME.SETTINGS) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `frame of type ${f.type} before the server's SETTINGS`);
    switch (f.type) {
      case FRAME.DATA:
        return this.data(f);
      case FRAME.HEADERS:
        this.block = { streamId: f.streamId, endStream: (f.flags & FLAG.END_STREAM) !== 0, parts: [framePayload(f)] };
        if (f.flags & FLAG.END_HEADERS) this.headers();
        return;
      case FRAME.CONTINUATION:
        if (!this.block || this.block.streamId !== f.streamId) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `CONTINUATION on stream ${f.streamId} without its HEADERS`);
        this.block.parts.push(f.payload);
        if (f.flags & FLAG.END_HEADERS) this.headers();
        return;
      case FRAME.RST_STREAM: {
        this.checkKnown(f.streamId);
        const s = this.streams.get(f.streamId);
        if (s) this.closeStream(s, { kind: 'reset', code: f.payload.readUInt32BE(0) });
        return;
      }
      case FRAME.SETTINGS:
        if (f.flags & FLAG.ACK) return;
        this.settings(parseSettings(f.payload));
        this.send(encodeFrame(FRAME.SETTINGS, FLAG.ACK, 0));
        this.settled = true;
        return this.flush();
      case FRAME.PUSH_PROMISE:
        throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, 'PUSH_PROMISE although we disabled push');
      case FRAME.PING:
        if (!(f.flags & FLAG.ACK)) this.send(encodeFrame(FRAME.PING, FLAG.ACK, 0, f.payload));
        return;
      case FRAME.GOAWAY:
        return this.goaway(f.payload.readUInt32BE(0) & MAX_WINDOW, f.payload.readUInt32BE(4));
      case FRAME.WINDOW_UPDATE:
        return this.windowUpdate(f.streamId, f.payload.readUInt32BE(0) & MAX_WINDOW);
      default:
        // PRIORITY and frame types this client does not know: ignored, as §4.1 and §5.5 require.
        return;
    }
  }

  /** A frame on a stream we never opened: the server may not open streams (push is off). */
  private checkKnown(streamId: number): void {
    if (streamId >= this.nextStreamId || streamId % 2 === 0) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `frame on stream ${streamId}, which we never opened`);
  }

  private data(f: Frame): void {
    this.checkKnown(f.streamId);
    // Flow control counts the whole payload, padding included (RFC 9113 §6.9.1).
    const size = f.payload.length;
    this.receiveWindow -= size;
    if (this.receiveWindow < 0) throw new ConnectionFault(H2_ERROR.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const body = framePayload(f);
    const s = this.streams.get(f.streamId);
    if (s && !s.done) {
      s.receiveWindow -= size;
      if (s.receiveWindow < 0) this.cancel(s, H2_ERROR.FLOW_CONTROL_ERROR);
      else if (body.length > 0) s.events.onData(body);
      if (f.flags & FLAG.END_STREAM) this.remoteEnded(s);
      else if (!s.done && RECEIVE_WINDOW - s.receiveWindow >= RECEIVE_WINDOW / 4) {
        this.send(encodeWindowUpdate(s.id, RECEIVE_WINDOW - s.receiveWindow));
        s.receiveWindow = RECEIVE_WINDOW;
      }
    }
    // The connection's window is given back whether or not the stream still wanted the bytes.
    if (!this.closed && RECEIVE_WINDOW - this.receiveWindow >= RECEIVE_WINDOW / 4) {
      this.send(encodeWindowUpdate(0, RECEIVE_WINDOW - this.receiveWindow));
      this.receiveWindow = RECEIVE_WINDOW;
    }
  }

  /** A complete header block: decoded even for a stream already gone, since the HPACK table is shared. */
  private headers(): void {
    const { streamId, endStream, parts } = this.block!;
    this.block = undefined;
    this.checkKnown(streamId);
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionFault(H2_ERROR.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const s = this.streams.get(streamId);
    if (!s || s.done) return;
    s.events.onHeaders(fields, endStream);
    if (endStream) this.remoteEnded(s);
  }

  /** The server ended the stream: the call is over, and whatever of the request is unsent will not be. */
  private remoteEnded(s: StreamState): void {
    if (s.done) return;
    if (!s.endSent) this.send(encodeRstStream(s.id, H2_ERROR.CANCEL));
    this.closeStream(s, { kind: 'ended' });
  }

  private settings(pairs: Array<[number, number]>): void {
    for (const [id, value] of pairs) {
      if (id === SETTING.ENABLE_PUSH && value > 1) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
      if (id === SETTING.MAX_CONCURRENT_STREAMS) this.peer.maxConcurrentStreams = value;
      if (id === SETTING.MAX_FRAME_SIZE && (value < DEFAULT_MAX_FRAME_SIZE || value > 2 ** 24 - 1)) {
        throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}`);
      }
      if (id === SETTING.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionFault(H2_ERROR.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value}`);
        // §6.9.2: the change applies to every open stream's window, which may go negative.
        const delta = value - this.peer.initialWindow;
        this.peer.initialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new ConnectionFault(H2_ERROR.FLOW_CONTROL_ERROR, 'a stream window beyond 2^31-1');
        }
      }
      // HEADER_TABLE_SIZE does not matter to an encoder that never indexes; MAX_FRAME_SIZE above 16 KiB
      // changes nothing either: we never send bigger frames. MAX_HEADER_LIST_SIZE: our headers are tiny.
    }
    while (this.waiting.length > 0 && this.streams.size < this.peer.maxConcurrentStreams) this.open(this.waiting.shift()!);
  }

  private windowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionFault(H2_ERROR.FLOW_CONTROL_ERROR, 'connection window beyond 2^31-1');
    } else {
      const s = this.streams.get(streamId);
      if (!s) return;
      if (increment === 0) return this.cancel(s, H2_ERROR.PROTOCOL_ERROR);
      s.sendWindow += increment;
      if (s.sendWindow > MAX_WINDOW) return this.cancel(s, H2_ERROR.FLOW_CONTROL_ERROR);
    }
    this.flush();
  }

  /**
   * Streams above `lastStreamId` were never processed: refused, as REFUSED_STREAM would (§6.8). The others
   * may finish, unless the GOAWAY carries an error: then the connection has failed.
   */
  private goaway(lastStreamId: number, code: number): void {
    this.draining = true;
    if (code !== H2_ERROR.NO_ERROR) return this.destroy(new Error(`Session closed with error code ${code}`));
    for (const s of [...this.streams.values(), ...this.waiting]) {
      if (s.id === 0 || s.id > lastStreamId) this.closeStream(s, { kind: 'reset', code: H2_ERROR.REFUSED_STREAM });
    }
    this.endIfIdle();
  }
}
