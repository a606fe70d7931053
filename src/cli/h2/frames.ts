// HTTP/2 frames (RFC 9113 §4 and §6) as berthctl's client needs them: encoders for what it sends and a reader
// that cuts the byte stream from the server into frames, with the checks on each frame's shape that the RFC
// makes connection errors. What a frame means for the connection is decided in ./connection.ts.

/** Frame types (RFC 9113 §6). */
export const FRAME = {
  DATA: 0x0, HEADERS: 0x1, PRIORITY: 0x2, RST_STREAM: 0x3, SETTINGS: 0x4, PUSH_PROMISE: 0x5, PING: 0x6, GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8, CONTINUATION: 0x9,
} as const;

/** Frame flags; END_STREAM and ACK share a bit, on different frame types. */
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Error codes (RFC 9113 §7), named as nghttp2 and grpc-js name them. */
export const H2_ERROR = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4, STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, CONNECT_ERROR: 10, ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12, HTTP_1_1_REQUIRED: 13,
} as const;

/** SETTINGS parameters (RFC 9113 §6.5.2). */
export const SETTING = {
  HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4, MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** What a client sends before anything else (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** The frame size every peer must accept, and the most we ever send in one frame. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
export const MAX_WINDOW = 2 ** 31 - 1;
const HEADER_LENGTH = 9;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A fault the RFC makes fatal for the whole connection: answered with GOAWAY carrying `code`. */
export class ConnectionFault extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function encodeFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & MAX_WINDOW, 5);
  payload.copy(out, HEADER_LENGTH);
  return out;
}

export function encodeSettings(settings: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return encodeFrame(FRAME.SETTINGS, 0, 0, payload);
}

export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return encodeFrame(FRAME.WINDOW_UPDATE, 0, streamId, payload);
}

export function encodeRstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return encodeFrame(FRAME.RST_STREAM, 0, streamId, payload);
}

export function encodeGoaway(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  return encodeFrame(FRAME.GOAWAY, 0, 0, payload);
}

/** A header block as HEADERS plus as many CONTINUATION frames as frames of `maxFrameSize` need. */
export function encodeHeaderBlock(streamId: number, block: Buffer, endStream: boolean, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Buffer[] {
  const frames: Buffer[] = [];
  let offset = 0;
  do {
    const part = block.subarray(offset, offset + maxFrameSize);
    offset += part.length;
    const last = offset >= block.length;
    const type = frames.length === 0 ? FRAME.HEADERS : FRAME.CONTINUATION;
    const flags = (last ? FLAG.END_HEADERS : 0) | (type === FRAME.HEADERS && endStream ? FLAG.END_STREAM : 0);
    frames.push(encodeFrame(type, flags, streamId, part));
  } while (offset < block.length);
  return frames;
}

/** The payload of a DATA or HEADERS frame without its padding (and a HEADERS frame's priority fields). */
export function framePayload(frame: Frame): Buffer {
  let body = frame.payload;
  if (frame.flags & FLAG.PADDED) {
    if (body.length < 1) throw new ConnectionFault(H2_ERROR.FRAME_SIZE_ERROR, 'padded frame without its pad length');
    const pad = body[0]!;
    // RFC 9113 §6.1: padding as long as the rest of the payload or longer is a connection error.
    if (pad >= body.length) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `padding of ${pad} bytes in a payload of ${body.length}`);
    body = body.subarray(1, body.length - pad);
  }
  if (frame.type === FRAME.HEADERS && frame.flags & FLAG.PRIORITY) {
    if (body.length < 5) throw new ConnectionFault(H2_ERROR.FRAME_SIZE_ERROR, 'HEADERS frame too short for its priority fields');
    body = body.subarray(5);
  }
  return body;
}

/** The lengths each frame type must have, where the RFC fixes them. */
function checkShape(f: Frame): void {
  const fixed: Record<number, number> = { [FRAME.PRIORITY]: 5, [FRAME.RST_STREAM]: 4, [FRAME.PING]: 8, [FRAME.WINDOW_UPDATE]: 4 };
  const want = fixed[f.type];
  if (want !== undefined && f.payload.length !== want) throw new ConnectionFault(H2_ERROR.FRAME_SIZE_ERROR, `frame of type ${f.type} with ${f.payload.length} bytes, not ${want}`);
  const onConnection = f.type === FRAME.SETTINGS || f.type === FRAME.PING || f.type === FRAME.GOAWAY;
  const onStream = f.type === FRAME.DATA || f.type === FRAME.HEADERS || f.type === FRAME.PRIORITY || f.type === FRAME.RST_STREAM || f.type === FRAME.CONTINUATION;
  if (onConnection && f.streamId !== 0) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `frame of type ${f.type} on stream ${f.streamId}`);
  if (onStream && f.streamId === 0) throw new ConnectionFault(H2_ERROR.PROTOCOL_ERROR, `frame of type ${f.type} on stream 0`);
  if (f.type === FRAME.SETTINGS && (f.payload.length % 6 !== 0 || (f.flags & FLAG.ACK && f.payload.length !== 0))) {
    throw new ConnectionFault(H2_ERROR.FRAME_SIZE_ERROR, `SETTINGS frame of ${f.payload.length} bytes`);
  }
  if (f.type === FRAME.GOAWAY && f.payload.length < 8) throw new ConnectionFault(H2_ERROR.FRAME_SIZE_ERROR, `GOAWAY frame of ${f.payload.length} bytes`);
}

/** Cuts received bytes into frames. Only a partial frame is ever kept, so a large response is not re-copied. */
export class FrameReader {
  private rest: Buffer = Buffer.alloc(0);

  /** `maxFrameSize` is what we advertised in SETTINGS_MAX_FRAME_SIZE (the default unless we sent one). */
  constructor(private readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {}

  /** The frames completed by `chunk`, in order; a malformed one throws ConnectionFault. */
  push(chunk: Buffer): Frame[] {
    let buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    const frames: Frame[] = [];
    while (buf.length >= HEADER_LENGTH) {
      const length = buf.readUIntBE(0, 3);
      if (length > this.maxFrameSize) throw new ConnectionFault(H2_ERROR.FRAME_SIZE_ERROR, `frame of ${length} bytes, more than ${this.maxFrameSize}`);
      if (buf.length < HEADER_LENGTH + length) break;
      const frame: Frame = { type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & MAX_WINDOW, payload: buf.subarray(HEADER_LENGTH, HEADER_LENGTH + length) };
      checkShape(frame);
      frames.push(frame);
      buf = buf.subarray(HEADER_LENGTH + length);
    }
    this.rest = buf;
    return frames;
  }
}

/** A SETTINGS payload as [identifier, value] pairs, in the order sent. */
export function parseSettings(payload: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i + 6 <= payload.length; i += 6) out.push([payload.readUInt16BE(i), payload.readUInt32BE(i + 2)]);
  return out;
}
