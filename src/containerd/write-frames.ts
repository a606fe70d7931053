// The data messages of Content.Write, built in reused buffers. A layer crosses berth in 1 MiB messages; built
// the obvious way each one costs two fresh 1 MiB buffers (gathering the socket's pieces, then protobuf
// encoding), and on a host where fresh memory is slow to touch those copies cost more than containerd's own
// write. Here the pieces are gathered once, straight into a buffer that leaves room in front for the
// message's header, and the finished message goes to grpc-js as it is (a Buffer passes the serializer as
// bytes already encoded).
import protobuf from 'protobufjs';

/** The Go client copies in 1 MiB messages; far below the 16 MiB limit. */
export const CHUNK = 1 << 20;
/** Room for `action` (2 bytes), `offset` (≤ 11) and the `data` field's tag and length (≤ 6). */
const HEADROOM = 24;
/** WriteContentRequest field numbers and wire types (proto/containerd/containerd_services_content_v1.proto). */
const ACTION_TAG = (1 << 3) | 0;
const OFFSET_TAG = (5 << 3) | 0;
const DATA_TAG = (6 << 3) | 2;
const WRITE_ACTION = 1;

/**
 * Buffers for frames, shared by the writers running at once and dropped when the last one ends, so an idle
 * daemon holds none.
 */
class FramePool {
  private free: Buffer[] = [];
  private users = 0;

  enter(): void {
    this.users++;
  }
  leave(): void {
    if (--this.users === 0) this.free = [];
  }
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(HEADROOM + CHUNK);
  }
  give(buf: Buffer): void {
    if (this.users > 0) this.free.push(buf);
  }
}

const pool = new FramePool();

/** One data message: its payload, and the whole encoded message once `encode` has written the header. */
export class WriteFrame {
  private constructor(readonly buffer: Buffer, private length = 0) {}

  static take(): WriteFrame {
    return new WriteFrame(pool.take());
  }

  get size(): number {
    return this.length;
  }
  get full(): boolean {
    return this.length === CHUNK;
  }
  /** The payload gathered so far. */
  get data(): Buffer {
    return this.buffer.subarray(HEADROOM, HEADROOM + this.length);
  }

  /** Copy as much of `piece` as fits; returns how many bytes were taken. */
  fill(piece: Uint8Array): number {
    const n = Math.min(piece.length, CHUNK - this.length);
    this.buffer.set(n === piece.length ? piece : piece.subarray(0, n), HEADROOM + this.length);
    this.length += n;
    return n;
  }

  /** WriteContentRequest{action: WRITE, offset, data}, encoded in place in front of the payload. */
  encode(offset: number): Buffer {
    const header = protobuf.Writer.create().uint32(ACTION_TAG).uint32(WRITE_ACTION).uint32(OFFSET_TAG).int64(offset).uint32(DATA_TAG).uint32(this.length).finish();
    const start = HEADROOM - header.length;
    this.buffer.set(header, start);
    return this.buffer.subarray(start, HEADROOM + this.length);
  }

  /** Back to the pool: only once containerd has answered the message (grpc-js frames it asynchronously). */
  release(): void {
    pool.give(this.buffer);
  }
}

/** Hold the pool for the length of one blob write. */
export function usingFrames<T>(fn: () => Promise<T>): Promise<T> {
  pool.enter();
  return fn().finally(() => pool.leave());
}

/**
 * A stream regrouped into frames of exactly CHUNK bytes (the last one shorter). When the source fails, the
 * bytes that arrived before it did come out first (a resumable ingest keeps them), then the failure.
 */
export async function* framed(source: AsyncIterable<Uint8Array>): AsyncGenerator<WriteFrame> {
  let frame = WriteFrame.take();
  try {
    for await (const piece of source) {
      let at = 0;
      while (at < piece.length) {
        at += frame.fill(at === 0 ? piece : piece.subarray(at));
        if (frame.full) {
          yield frame;
          frame = WriteFrame.take();
        }
      }
    }
  } catch (e) {
    if (frame.size > 0) yield frame;
    throw e;
  }
  if (frame.size > 0) yield frame;
  else frame.release();
}
