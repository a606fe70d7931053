// tuf-js's fetcher for both repository kinds berth supports: http(s):// (Node's fetch, with a deadline) and
// file:// (a repository on a local disk, e.g. a read-only medium). A missing file is a 404 either way, which
// is how tuf-js learns there is no newer root.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';

type Body = ReadableStream<Uint8Array<ArrayBuffer>>;

export class RepositoryFetcher extends BaseFetcher {
  /** Told the bytes received so far of the current download (for progress). */
  onBytes: ((received: number) => void) | undefined;

  constructor(private readonly timeoutMs: number, private readonly signal?: AbortSignal) {
    super();
  }

  /** The last URL asked for: tuf-js's errors about a file's length or hash do not name the file. */
  lastUrl: string | undefined;

  override async fetch(url: string): Promise<Body> {
    this.lastUrl = url;
    const u = new URL(url);
    if (u.protocol === 'file:') return this.fetchFile(u);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new DownloadHTTPError(`${url}: unsupported scheme ${u.protocol}`, 400);
    const signals = [AbortSignal.timeout(this.timeoutMs), ...(this.signal ? [this.signal] : [])];
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.any(signals), redirect: 'follow' });
    } catch (err) {
      throw new Error(`fetching ${url}: ${describe(err)}`, { cause: err });
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new DownloadHTTPError(`fetching ${url}: HTTP ${res.status}`, res.status);
    }
    return this.counted(res.body as Body);
  }

  private counted(body: Body): Body {
    const report = this.onBytes;
    if (!report) return body;
    let received = 0;
    return body.pipeThrough(new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
      transform(chunk, controller) {
        received += chunk.length;
        report(received);
        controller.enqueue(chunk);
      },
    }));
  }

  private async fetchFile(u: URL): Promise<Body> {
    const path = fileURLToPath(u);
    const s = await stat(path).catch(() => undefined);
    if (!s?.isFile()) throw new DownloadHTTPError(`${path}: no such file`, 404);
    return this.counted(Readable.toWeb(createReadStream(path, this.signal ? { signal: this.signal } : {})) as Body);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
