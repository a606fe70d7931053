// One HTTP(S) request with node's http/https (fetch cannot take a per-request CA bundle without undici's
// Agent, which Node 20 does not expose). Bodies are returned as streams so layers are never buffered.
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { pipeline, Transform, type Readable } from 'node:stream';
import { invalid } from './errors.js';
import type { TransferMeter } from './watch.js';

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  /** Destroying it closes the connection. */
  readonly body: Readable;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** Idle time after which a request or body read is given up (and retried by the caller). */
const IDLE_TIMEOUT_MS = 30_000;

/** Keep-alive agents per trust setting, shared by one pull and destroyed with it. */
export class HttpTransport {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly verifying: https.Agent;
  private readonly skipping = new https.Agent({ keepAlive: true, rejectUnauthorized: false });

  /** `meter` hears of every request and every body byte: the pull's stall and deadline watch. */
  constructor(ca?: Buffer, private readonly meter?: TransferMeter) {
    // An extra bundle adds to the built-in roots instead of replacing them.
    this.verifying = new https.Agent({ keepAlive: true, ...(ca ? { ca: [...rootCertificates, ca.toString('utf8')] } : {}) });
  }

  request(url: string, opts: RequestOptions & { skipVerify?: boolean } = {}): Promise<HttpResponse> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    const agent = secure ? (opts.skipVerify ? this.skipping : this.verifying) : this.httpAgent;
    const lib = secure ? https : http;
    const end = this.meter?.begin() ?? (() => undefined);
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = lib.request(u, { method: opts.method ?? 'GET', headers: { 'User-Agent': 'berth', ...opts.headers }, agent, ...(opts.signal ? { signal: opts.signal } : {}) }, (res) => {
        res.setTimeout(IDLE_TIMEOUT_MS, () => res.destroy(Object.assign(new Error(`${u.host}: response body timed out`), { code: 'ETIMEDOUT' })));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: this.metered(res, end) });
      });
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`${u.host}: request timed out`), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => {
        end();
        reject(e);
      });
      req.end(opts.body);
    });
  }

  /** The body as read by the caller, counted for the meter; the request ends when the body closes. */
  private metered(res: IncomingMessage, end: () => void): Readable {
    const meter = this.meter;
    if (!meter) {
      res.once('close', end);
      return res;
    }
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        meter.bytes(chunk.length);
        cb(null, chunk);
      },
    });
    // pipeline: destroying the counter (a caller giving up on a body) destroys the response and its socket.
    pipeline(res, counter, () => end());
    counter.once('close', end);
    return counter;
  }

  close(): void {
    this.httpAgent.destroy();
    this.verifying.destroy();
    this.skipping.destroy();
  }
}

/**
 * Read a small body (manifests, token responses, error documents), refusing anything over `limit` as soon
 * as it is exceeded (a hostile registry can send an endless body): the connection is closed and
 * `tooLarge` (or a generic error) is thrown.
 */
export async function readBody(res: HttpResponse, limit: number, tooLarge?: () => Error): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw tooLarge?.() ?? invalid(`response larger than ${limit} bytes`);
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}

/** Drop a body we do not need, so the keep-alive socket can be reused. */
export function discard(res: HttpResponse): void {
  res.body.resume();
}
