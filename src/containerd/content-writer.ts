import type { ClientDuplexStream } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import type { ContainerdClient, CallOptions } from './client.js';
import { mapGrpcError, isAlreadyExists, ContainerdError } from './errors.js';

const CHUNK = 1 << 20; // the Go client copies in 1 MiB messages; far below the 16 MiB limit

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

/** Lock-step request/response over Content.Write: the server answers every message once (API facts §3.6.1). */
class LockStep {
  private queue: WriteResponse[] = [];
  private waiter: { resolve: (r: WriteResponse) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  constructor(private readonly stream: ClientDuplexStream<Record<string, unknown>, unknown>) {
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
  send(msg: Record<string, unknown>): Promise<WriteResponse> {
    if (this.failure) return Promise.reject(this.failure);
    this.stream.write(msg);
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }
  close(): void {
    this.stream.removeAllListeners('end');
    this.stream.on('error', () => undefined);
    this.stream.end();
    this.stream.cancel();
  }
}

async function* chunked(source: AsyncIterable<Uint8Array> | Buffer): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(source)) {
    for (let i = 0; i < source.length; i += CHUNK) yield source.subarray(i, i + CHUNK);
    return;
  }
  let pending: Buffer[] = [];
  let size = 0;
  for await (const c of source) {
    const buf = Buffer.isBuffer(c) ? c : Buffer.from(c);
    pending.push(buf);
    size += buf.length;
    if (size >= CHUNK) {
      yield Buffer.concat(pending);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(pending);
}

/**
 * Stream a blob into containerd's content store with size and digest checks. A failed write is aborted
 * so no ingest is left behind; when the source must be skipped (blob present) it is drained by the caller.
 */
export async function writeBlob(client: ContainerdClient, source: AsyncIterable<Uint8Array> | Buffer, opts: WriteBlobOptions): Promise<WriteBlobResult> {
  const stream = client.bidi('content', 'Write', opts);
  const io = new LockStep(stream);
  const hash = createHash('sha256');
  let offset = 0;
  try {
    try {
      const stat = await io.send({ action: 'STAT', ref: opts.ref, total: opts.total, expected: opts.expected ?? '' });
      // A ref left by an earlier failed attempt: restart from zero, since a tar stream cannot seek.
      if (stat.offset > 0) await io.send({ action: 'WRITE', offset: 0, data: Buffer.alloc(0) });
    } catch (e) {
      if (opts.expected && isAlreadyExists(e)) return { digest: opts.expected, size: opts.total, existed: true };
      throw e;
    }
    for await (const chunk of chunked(source)) {
      hash.update(chunk);
      const res = await io.send({ action: 'WRITE', offset, data: chunk });
      offset = res.offset;
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (opts.expected && actual !== opts.expected) throw new DigestMismatchError(opts.expected, actual, opts.ref);
    if (offset !== opts.total) throw new ContainerdError(`${opts.ref}: size mismatch: expected ${opts.total} bytes, got ${offset}`, 9, 'content.Write');
    try {
      const done = await io.send({ action: 'COMMIT', offset, total: opts.total, expected: opts.expected ?? actual, labels: opts.labels ?? {} });
      return { digest: done.digest || actual, size: offset, existed: false };
    } catch (e) {
      if (isAlreadyExists(e)) return { digest: actual, size: offset, existed: true };
      throw e;
    }
  } catch (e) {
    io.close();
    await client.abortIngest(opts.ref, opts).catch(() => undefined);
    throw e;
  } finally {
    io.close();
  }
}
