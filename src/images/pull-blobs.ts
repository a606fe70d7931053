// Copying one blob from a registry into containerd's content store: digest and size verified by the writer,
// transient failures retried, and a copy cut off mid-way resumed from the ingest's offset (HTTP Range).
import { createHash } from 'node:crypto';
import type { ContainerdClient } from '../containerd/client.js';
import { DigestMismatchError, writeBlob, type SeekableSource, type WriteBlobResult } from '../containerd/content-writer.js';
import type { JsonDescriptor } from '../containerd/image-manifest.js';
import type { RegistryClient } from './registry/client.js';
import { invalid } from './registry/errors.js';
import type { ImageReference } from './registry/reference.js';

export interface BlobCopy {
  containerd: ContainerdClient;
  registry: RegistryClient;
  ref: ImageReference;
  namespace: string;
  lease: string;
  /** Where the blob came from, for messages. */
  source: string;
}

/** Ingest refs as the Go client names them (`remotes.MakeRefKey`), so a retried pull resumes the same ingest. */
export const ingestRef = (kind: 'layer' | 'config' | 'manifest' | 'index', digest: string): string => `${kind}-${digest}`;

/**
 * The blob's bytes, counted, and cut off at `limit` (the descriptor's size): the registry's size is a limit,
 * not a hint, so an endless or oversized blob fails as soon as it passes the size — leaving the HTTP
 * stream (destroyed by the loop's exit) and the ingest (never sent the extra bytes) bounded by it.
 */
function counting(stream: AsyncIterable<Uint8Array>, start: number, limit: number, tooLarge: () => Error, onBytes: (n: number) => void): AsyncIterable<Uint8Array> {
  return (async function* () {
    let n = start;
    for await (const c of stream) {
      if (n + c.length > limit) throw tooLarge();
      n += c.length;
      onBytes(n);
      yield c;
    }
  })();
}

const tooLarge = (copy: BlobCopy, kind: string, desc: JsonDescriptor) => (): Error =>
  invalid(`${copy.ref.name}: ${kind} ${desc.digest} from ${copy.source} is larger than its descriptor says (${desc.size} bytes)`);

const mismatch = (copy: BlobCopy, what: string, e: DigestMismatchError): Error =>
  invalid(`${copy.ref.name}: ${what} ${e.expected} from ${copy.source} failed verification: got ${e.actual}`);

/** Stream a layer (or any large blob) into the store; `onBytes` gets the absolute count present so far. */
export async function copyBlob(copy: BlobCopy, desc: JsonDescriptor, kind: 'layer' | 'config', onBytes: (n: number) => void = () => undefined): Promise<WriteBlobResult> {
  const source: SeekableSource = {
    open: async (offset) => {
      const opened = await copy.registry.blob(copy.ref, desc.digest, offset);
      onBytes(opened.offset);
      return { stream: counting(opened.stream, opened.offset, desc.size, tooLarge(copy, kind, desc), onBytes), offset: opened.offset };
    },
  };
  const ingest = ingestRef(kind, desc.digest);
  try {
    return await copy.registry.retrying(() =>
      writeBlob(copy.containerd, source, { ref: ingest, total: desc.size, expected: desc.digest, namespace: copy.namespace, lease: copy.lease }),
    );
  } catch (e) {
    // The writer keeps an ingest after a source failure so a retry can resume it; a failure no retry will
    // follow (oversized, cancelled, timed out, out of attempts) drops it now rather than at lease expiry.
    await copy.containerd.abortIngest(ingest, { namespace: copy.namespace, lease: copy.lease }).catch(() => undefined);
    if (e instanceof DigestMismatchError) throw mismatch(copy, kind, e);
    throw e;
  }
}

/** A small blob (config) read whole, verified, then written; the caller needs its bytes. */
export async function fetchSmallBlob(copy: BlobCopy, desc: JsonDescriptor, limit: number): Promise<Buffer> {
  if (desc.size > limit) throw invalid(`${copy.ref.name}: config ${desc.digest} is ${desc.size} bytes, over the ${limit}-byte limit`);
  const bytes = await copy.registry.retrying(async () => {
    const { stream } = await copy.registry.blob(copy.ref, desc.digest, 0);
    const parts: Buffer[] = [];
    let size = 0;
    for await (const c of stream) {
      size += c.length;
      if (size > desc.size) throw invalid(`${copy.ref.name}: blob ${desc.digest} from ${copy.source} is larger than its descriptor says (${desc.size} bytes)`);
      parts.push(Buffer.from(c));
    }
    return Buffer.concat(parts);
  });
  verify(copy, desc, bytes, 'config');
  return bytes;
}

export function verify(copy: BlobCopy, desc: JsonDescriptor, bytes: Buffer, what: string): void {
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (actual !== desc.digest) throw invalid(`${copy.ref.name}: ${what} ${desc.digest} from ${copy.source} failed verification: got ${actual}`);
  if (bytes.length !== desc.size) throw invalid(`${copy.ref.name}: ${what} ${desc.digest} from ${copy.source} is ${bytes.length} bytes, expected ${desc.size}`);
}

/** Write verified bytes with GC labels; labels are (re)applied when the blob was already present. */
export async function storeBytes(copy: BlobCopy, desc: JsonDescriptor, bytes: Buffer, kind: 'manifest' | 'index' | 'config', labels: Record<string, string> = {}): Promise<void> {
  const call = { namespace: copy.namespace, lease: copy.lease };
  const res = await writeBlob(copy.containerd, bytes, { ref: ingestRef(kind, desc.digest), total: desc.size, expected: desc.digest, labels, ...call });
  const keys = Object.keys(labels);
  if (res.existed && keys.length > 0) await copy.containerd.updateContent({ digest: desc.digest, labels }, keys.map((k) => `labels.${k}`), call);
}
