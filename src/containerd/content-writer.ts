import type { ClientDuplexStream } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import type { ContainerdClient, CallOptions } from './client.js';
import { mapGrpcError, isAlreadyExists, ContainerdError } from './errors.js';
import { CHUNK, framed, usingFrames, type WriteFrame } from './write-frames.js';

/**
 * Data messages sent ahead of containerd's answers: containerd answers each one in order, and with one in
 * flight the next chunk gathers from the network while containerd writes the last (double buffering).
 * Deeper windows measured no faster here and hold more buffers.
 */
const WINDOW = 1;

interface WriteResponse {
  action: string;
  offset: number;
  total: number;
  digest: string;
}

export interface WriteBlobOptions extends CallOptions {
  /** Ingest ref, unique per blob in flight (`tar-<path>`, `layer-<digest>`…). */
  ref: string;
  total: number;
  /** When set, containerd verifies the digest at commit and answers ALREADY_EXISTS at once if present. */
  expected?: string;
  labels?: Record<string, string>;
}

export interface WriteBlobResult {
  digest: string;
  size: number;
  /** True when containerd already held the blob and no bytes were sent. */
  existed: boolean;
}

export class DigestMismatchError extends Error {
  constructor(readonly expected: string, readonly actual: string, readonly ref: string) {
    super(`${ref}: digest mismatch: expected ${expected}, got ${actual}`);
    this.name = 'DigestMismatchError';
  }
}

/**
 * Requests and answers over Content.Write: the server answers every message once, in order (API facts
 * §3.6.1), so answers are matched to requests by position.
 */
class WriteStream {
  private queue: WriteResponse[] = [];
  private waiter: { resolve: (r: WriteResponse) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  constructor(private readonly stream: ClientDuplexStream<Record<string, unknown> | Buffer, unknown>) {
    stream.on('data', (r: WriteResponse) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(r);
      } else this.queue.push(r);
    });
    const fail = (e: Error): void => {
      this.failure = e;
      this.waiter?.reject(e);
      this.waiter = undefined;
    };
    stream.on('error', (e) => fail(mapGrpcError(e, 'content.Write')));
    stream.on('end', () => fail(new ContainerdError('content.Write: stream ended early', 2, 'content.Write')));
  }
  /** Send one request and wait for its answer (nothing else may be in flight). */
  send(msg: Record<string, unknown>): Promise<WriteResponse> {
    this.post(msg);
    return this.answer();
  }
  /** Send without waiting; `answer()` reads the answers in order. A Buffer is a message already encoded. */
  post(msg: Record<string, unknown> | Buffer): void {
    if (!this.failure) this.stream.write(msg);
  }
  answer(): Promise<WriteResponse> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }
  close(): void {
    this.stream.removeAllListeners('end');
    this.stream.on('error', () => undefined);
    this.stream.end();
    this.stream.cancel();
  }
}

/** In-memory bytes as write frames would carry them: slices, no copy (protobuf encoding copies them once). */
function* sliced(bytes: Buffer): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i += CHUNK) yield bytes.subarray(i, i + CHUNK);
}

/**
 * A source that can start at any byte offset (an HTTP blob with Range requests). `open` may return an
 * earlier offset than asked (a server that ignores Range answers from 0); the writer then restarts there.
 */
export interface SeekableSource {
  open(offset: number): Promise<{ stream: AsyncIterable<Uint8Array>; offset: number }>;
}
export type BlobSource = AsyncIterable<Uint8Array> | Buffer | SeekableSource;

const isSeekable = (s: BlobSource): s is SeekableSource => !Buffer.isBuffer(s) && typeof (s as Partial<SeekableSource>).open === 'function';

/** Marks a failure of the source (network), as opposed to containerd or verification failures. */
class SourceFailure extends Error {
  constructor(readonly inner: unknown) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

async function* guarded(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await it.next();
    } catch (e) {
      throw new SourceFailure(e);
    }
    if (next.done) return;
    yield next.value;
  }
}

const COMMIT_DIGEST = /unexpected commit digest (\S+), expected (\S+?):? /;

/**
 * Stream a blob into containerd's content store with size and digest checks. A failed write is aborted
 * so no ingest is left behind — except when a seekable source fails mid-way: then the ingest is kept so
 * that the caller's retry resumes at the ingest's offset (STAT) instead of sending every byte again. The
 * caller's lease removes such an ingest if the operation gives up. When the blob is present the source is
 * not read (a stream must then be drained by the caller).
 */
export function writeBlob(client: ContainerdClient, source: BlobSource, opts: WriteBlobOptions): Promise<WriteBlobResult> {
  return usingFrames(() => writeBlobFramed(client, source, opts));
}

/** One data message on its way: where the ingest ends once containerd has it, and its buffer to give back. */
interface InFlight {
  end: number;
  frame?: WriteFrame;
}

async function writeBlobFramed(client: ContainerdClient, source: BlobSource, opts: WriteBlobOptions): Promise<WriteBlobResult> {
  const stream = client.bidi('content', 'Write', opts);
  const io = new WriteStream(stream);
  const hash = createHash('sha256');
  let offset = 0;
  // Bytes written by an earlier attempt cannot be hashed here; containerd checks `expected` at commit.
  let resumed = false;
  const inFlight: InFlight[] = [];
  /** Wait for the oldest message's answer: containerd must be where the bytes sent so far put it. */
  const settleOne = async (): Promise<void> => {
    const res = await io.answer();
    const sent = inFlight.shift()!;
    if (res.offset !== sent.end) throw new ContainerdError(`${opts.ref}: containerd's ingest is at ${res.offset} bytes, expected ${sent.end}`, 13, 'content.Write');
    sent.frame?.release();
  };
  const send = async (data: Buffer, message: Record<string, unknown> | Buffer, frame?: WriteFrame): Promise<void> => {
    // `total` is a limit: a source longer than it is refused before the extra bytes reach the ingest.
    if (offset + data.length > opts.total) throw new ContainerdError(`${opts.ref}: size mismatch: more than the expected ${opts.total} bytes`, 9, 'content.Write');
    if (!resumed) hash.update(data);
    io.post(message);
    offset += data.length;
    inFlight.push({ end: offset, ...(frame ? { frame } : {}) });
    if (inFlight.length > WINDOW) await settleOne();
  };
  try {
    let input: AsyncIterable<Uint8Array> | Buffer;
    try {
      const stat = await io.send({ action: 'STAT', ref: opts.ref, total: opts.total, expected: opts.expected ?? '' });
      if (isSeekable(source)) {
        const resumeAt = opts.expected && stat.offset > 0 && stat.offset < opts.total ? stat.offset : 0;
        const opened = await source.open(resumeAt).catch((e: unknown) => Promise.reject(new SourceFailure(e)));
        if (opened.offset > 0 && opened.offset === stat.offset) {
          offset = opened.offset;
          resumed = true;
        } else if (stat.offset > 0) {
          await io.send({ action: 'WRITE', offset: 0, data: Buffer.alloc(0) });
        }
        input = guarded(opened.stream);
      } else {
        // A ref left by an earlier failed attempt: restart from zero, since a tar stream cannot seek.
        if (stat.offset > 0) await io.send({ action: 'WRITE', offset: 0, data: Buffer.alloc(0) });
        input = Buffer.isBuffer(source) ? source : guarded(source);
      }
    } catch (e) {
      if (opts.expected && isAlreadyExists(e)) return { digest: opts.expected, size: opts.total, existed: true };
      throw e;
    }
    try {
      if (Buffer.isBuffer(input)) {
        for (const data of sliced(input)) await send(data, { action: 'WRITE', offset, data });
      } else {
        for await (const frame of framed(input)) await send(frame.data, frame.encode(offset), frame);
      }
    } catch (e) {
      // A source that failed mid-way: what was sent is let in first, so the ingest a retry resumes from is
      // exactly the bytes that arrived.
      if (e instanceof SourceFailure) while (inFlight.length > 0) await settleOne().catch(() => inFlight.splice(0));
      throw e;
    }
    while (inFlight.length > 0) await settleOne();
    const actual = resumed ? undefined : `sha256:${hash.digest('hex')}`;
    if (opts.expected && actual && actual !== opts.expected) throw new DigestMismatchError(opts.expected, actual, opts.ref);
    if (offset !== opts.total) throw new ContainerdError(`${opts.ref}: size mismatch: expected ${opts.total} bytes, got ${offset}`, 9, 'content.Write');
    const expected = opts.expected ?? actual ?? '';
    try {
      const done = await io.send({ action: 'COMMIT', offset, total: opts.total, expected, labels: opts.labels ?? {} });
      return { digest: done.digest || expected, size: offset, existed: false };
    } catch (e) {
      if (isAlreadyExists(e)) return { digest: expected, size: offset, existed: true };
      const m = e instanceof Error ? COMMIT_DIGEST.exec(e.message) : null;
      if (m && opts.expected) throw new DigestMismatchError(opts.expected, m[1]!, opts.ref);
      throw e;
    }
  } catch (e) {
    io.close();
    if (e instanceof SourceFailure) {
      if (!isSeekable(source)) await client.abortIngest(opts.ref, opts).catch(() => undefined);
      throw e.inner;
    }
    await client.abortIngest(opts.ref, opts).catch(() => undefined);
    throw e;
  } finally {
    io.close();
  }
}

/**
 * Make a blob another namespace already holds visible in `opts.namespace` without sending its bytes.
 * Blobs are stored once on disk and shared across namespaces (containerd's default "shared" content
 * policy, reported by the bolt plugin): a Write in a namespace that lacks the blob answers STAT with the
 * full size and digest, and a COMMIT at that offset records it — no copy, no disk growth (checked against
 * containerd 1.6.20). Labels (GC references) are per namespace, so they are given here. Resolves false
 * when no namespace holds the blob (nothing is written then).
 */
export async function linkBlob(client: ContainerdClient, digest: string, size: number, labels: Record<string, string>, opts: CallOptions): Promise<boolean> {
  const ref = `link-${digest}`;
  const io = new WriteStream(client.bidi('content', 'Write', opts));
  const relabel = async (): Promise<boolean> => {
    const keys = Object.keys(labels);
    if (keys.length) await client.updateContent({ digest, labels }, keys.map((k) => `labels.${k}`), opts);
    return true;
  };
  try {
    let stat: WriteResponse;
    try {
      stat = await io.send({ action: 'STAT', ref, total: size, expected: digest });
    } catch (e) {
      if (isAlreadyExists(e)) return await relabel();
      throw e;
    }
    if (stat.offset !== size || stat.digest !== digest) {
      await client.abortIngest(ref, opts).catch(() => undefined);
      return false;
    }
    try {
      await io.send({ action: 'COMMIT', offset: size, total: size, expected: digest, labels });
    } catch (e) {
      if (isAlreadyExists(e)) return await relabel();
      await client.abortIngest(ref, opts).catch(() => undefined);
      throw e;
    }
    return true;
  } finally {
    io.close();
  }
}
