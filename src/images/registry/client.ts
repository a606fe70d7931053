// The OCI distribution API, read-only: resolve a reference to a descriptor, fetch manifests, open blobs
// (optionally from an offset). Every request walks the endpoints (mirrors, then the registry), answers
// auth challenges, and retries transient failures with backoff; permanent ones fail at once.
import { createHash } from 'node:crypto';
import type { JsonDescriptor } from '../../containerd/image-manifest.js';
import { Authorizer } from './auth.js';
import type { Endpoint, RegistryConfig } from './config.js';
import { forbidden, invalid, isTransient, notFound, RegistryError, retryAfterMs, transient, unauthorized } from './errors.js';
import { discard, HttpTransport, readBody, type HttpResponse } from './http.js';
import { manifestReference, type ImageReference } from './reference.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from './retry.js';
import type { TransferMeter } from './watch.js';

export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  '*/*',
].join(', ');

/** containerd rejects manifests over ~4 MB; so do we, before buffering them. */
export const MAX_MANIFEST = 4 << 20;
const MAX_REDIRECTS = 5;

export interface RegistryClientOptions {
  retry?: Partial<RetryOptions>;
  signal?: AbortSignal;
  /** Told about every retry, for logs and progress. */
  onRetry?: (message: string) => void;
  /** Hears of every request and body byte (the pull's stall watch). */
  meter?: TransferMeter;
}

export class RegistryClient {
  private readonly transport: HttpTransport;
  private readonly auth: Authorizer;
  private readonly retry: RetryOptions;
  /** Endpoints that failed at the network level drop to the back for the rest of this client's life. */
  private readonly demoted = new Set<string>();

  constructor(private readonly config: RegistryConfig, private readonly opts: RegistryClientOptions = {}) {
    this.transport = new HttpTransport(config.ca, opts.meter);
    this.auth = new Authorizer(this.transport, (h) => config.credentials(h), (h) => config.insecure?.(h) ?? false);
    this.retry = { ...DEFAULT_RETRY, ...opts.retry, ...(opts.signal ? { signal: opts.signal } : {}), onRetry: (n, ms, e) => opts.onRetry?.(`retrying in ${ms} ms (attempt ${n + 1}): ${e instanceof Error ? e.message : String(e)}`) };
  }

  close(): void {
    this.transport.close();
  }

  /** HEAD (then GET if the registry omits the digest) the reference's manifest: its descriptor. */
  async resolve(ref: ImageReference): Promise<JsonDescriptor> {
    const path = `manifests/${manifestReference(ref)}`;
    const head = await this.fetch(ref, path, { method: 'HEAD', accept: MANIFEST_ACCEPT });
    discard(head);
    const mediaType = String(head.headers['content-type'] ?? '').split(';')[0]!.trim();
    const digest = ref.digest ?? String(head.headers['docker-content-digest'] ?? '');
    const size = Number(head.headers['content-length'] ?? NaN);
    // The size is the registry's word, and it becomes a limit: a manifest claiming more is refused here.
    if (Number.isFinite(size) && size > MAX_MANIFEST) throw invalid(`${ref.name}: registry ${ref.domain} says the manifest is ${size} bytes, over the ${MAX_MANIFEST}-byte limit`);
    if (digest && Number.isFinite(size) && size > 0 && mediaType) return { mediaType, digest, size };
    // Some registries answer HEAD without these headers: GET the manifest and hash it.
    const res = await this.fetch(ref, path, { accept: MANIFEST_ACCEPT });
    const body = await readBody(res, MAX_MANIFEST, () => invalid(`${ref.name}: manifest from ${ref.domain} is larger than the ${MAX_MANIFEST}-byte limit`));
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim() || (JSON.parse(body.toString('utf8')) as { mediaType?: string }).mediaType || '';
    return { mediaType: type, digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, size: body.length };
  }

  /** A manifest or index by digest, size-checked (the caller verifies the digest on write). */
  async manifest(ref: ImageReference, desc: JsonDescriptor): Promise<Buffer> {
    if (desc.size > MAX_MANIFEST) throw invalid(`${ref.name}: manifest ${desc.digest} is ${desc.size} bytes, over the ${MAX_MANIFEST}-byte limit`);
    return withRetry(async () => {
      const res = await this.fetch(ref, `manifests/${desc.digest}`, { accept: `${desc.mediaType}, */*`, retry: false });
      // Cut off at the descriptor's size, not just the global cap: more bytes than announced can only be wrong.
      return readBody(res, desc.size, () => invalid(`${ref.name}: manifest ${desc.digest} from ${ref.domain} is larger than its descriptor says (${desc.size} bytes)`));
    }, this.retry);
  }

  /**
   * A blob's bytes from `offset` (a Range request). Returns the offset the body really starts at: 0 when
   * the server ignored the Range. Body errors are the caller's to retry (it knows how far it got).
   */
  async blob(ref: ImageReference, digest: string, offset = 0): Promise<{ stream: AsyncIterable<Uint8Array>; offset: number }> {
    const res = await this.fetch(ref, `blobs/${digest}`, { ...(offset > 0 ? { range: offset } : {}) });
    const start = res.status === 206 ? Number(/bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1] ?? 0) : 0;
    return { stream: res.body, offset: start };
  }

  /** Run `fn` with the client's retry policy (for callers that retry whole operations, like a blob copy). */
  retrying<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
    return withRetry(fn, this.retry);
  }

  private ordered(ref: ImageReference): Endpoint[] {
    const all = this.config.endpoints(ref.domain);
    return [...all.filter((e) => !this.demoted.has(e.base)), ...all.filter((e) => this.demoted.has(e.base))];
  }

  /**
   * GET/HEAD `/v2/<repo>/<path>` with retries. Within one attempt, each endpoint is tried in order; a
   * mirror that lacks the object or fails is skipped. A 2xx response is returned with its body unread.
   */
  private fetch(ref: ImageReference, path: string, req: { method?: 'GET' | 'HEAD'; accept?: string; range?: number; retry?: boolean }): Promise<HttpResponse> {
    const once = async (): Promise<HttpResponse> => {
      const endpoints = this.ordered(ref);
      let last: unknown;
      for (const ep of endpoints) {
        try {
          return await this.fetchFrom(ep, ref, path, req);
        } catch (e) {
          last = e;
          // A mirror that lacks the object, refuses us or is down, and an origin endpoint that is down
          // (the insecure https → http fallback): try the next one. Other permanent failures end the pull.
          const skippable = isTransient(e) || (ep.mirror && e instanceof RegistryError && [5, 7, 9, 16].includes(e.code));
          if (!skippable) throw e;
        }
      }
      throw last instanceof Error ? last : transient(`${ref.name}: no registry endpoint answered`);
    };
    return req.retry === false ? once() : withRetry(once, this.retry);
  }

  private async fetchFrom(ep: Endpoint, ref: ImageReference, path: string, req: { method?: 'GET' | 'HEAD'; accept?: string; range?: number }): Promise<HttpResponse> {
    const scope = `repository:${ref.repository}:pull`;
    const where = `${ref.name} from ${ep.base}`;
    let url = `${ep.base}/v2/${ref.repository}/${path}`;
    let authorized = false;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameHost = new URL(url).host === ep.host;
      const headers: Record<string, string> = {};
      if (req.accept) headers.Accept = req.accept;
      if (req.range) headers.Range = `bytes=${req.range}-`;
      // Credentials go only to the endpoint itself, never to a redirect target (object storage URLs are pre-signed).
      const auth = sameHost ? this.auth.header(ep.host, scope) : undefined;
      if (auth) headers.Authorization = auth;
      let res: HttpResponse;
      try {
        res = await this.transport.request(url, { method: req.method ?? 'GET', headers, skipVerify: ep.skipVerify, ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
      } catch (e) {
        if (this.opts.signal?.aborted) throw e;
        const code = String((e as { code?: string }).code ?? '');
        const message = `${where}: ${e instanceof Error ? e.message : String(e)}`;
        if (TLS_VERIFY.test(code)) throw invalid(`${message} (TLS verification failed; trust the registry's CA with container-registry.ca-bundle)`);
        this.demoted.add(ep.base);
        throw transient(message);
      }
      const s = res.status;
      if (s >= 200 && s < 300) return res;
      if (s >= 300 && s < 400 && res.headers.location) {
        discard(res);
        url = new URL(res.headers.location, url).toString();
        continue;
      }
      const detail = req.method === 'HEAD' ? '' : await readBody(res, 64 << 10).then((b) => registryMessage(b), () => '');
      if (s !== 200 && req.method === 'HEAD') discard(res);
      if (s === 401 && sameHost && !authorized) {
        await this.auth.answer(ep.host, scope, res.headers['www-authenticate'], where, this.opts.signal);
        authorized = true;
        hop--;
        continue;
      }
      const suffix = detail ? `: ${detail}` : '';
      const withheld = this.auth.withheld(ep.host);
      if (s === 401 && withheld) throw unauthorized(`${where}: unauthorized${suffix}; ${withheld}`);
      if (s === 401) throw unauthorized(`${where}: unauthorized: the registry rejected the credentials${suffix}`);
      if (s === 403) throw forbidden(`${where}: access denied${suffix}`);
      if (s === 404) throw notFound(`${where}: not found (${path})${suffix}`);
      if (s === 429 || s >= 500) throw transient(`${where}: HTTP ${s}${suffix}`, retryAfterMs(firstHeader(res.headers['retry-after'])));
      if (s === 416) throw transient(`${where}: range not satisfiable`);
      throw invalid(`${where}: unexpected HTTP ${s}${suffix}`);
    }
    throw invalid(`${where}: too many redirects`);
  }
}

const TLS_VERIFY = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/;
const firstHeader = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);

/** The first message of a distribution error document (`{"errors":[{"code","message"}]}`), if any. */
function registryMessage(body: Buffer): string {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const e = doc.errors?.[0];
    return e ? `${e.code ?? ''}${e.message ? ` ${e.message}` : ''}`.trim() : '';
  } catch {
    return body.toString('utf8').slice(0, 200).trim();
  }
}

export { isTransient };
