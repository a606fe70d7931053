// A hostile registry for pull tests and the chaos suite: a plain node:http server on 127.0.0.1 that serves
// one small valid image per repository `hostile/<behaviour>` (tag v1), misbehaving in the way the behaviour
// names: endless or oversized blobs and manifests, absurd descriptor sizes, a byte every few ticks, a hang,
// corrupt bytes, or a bearer challenge whose token realm is another host over plain HTTP. It records every
// request (what it sent, whether the client closed it, which Authorization header came) so tests can assert
// on what the client did, not only on the error it reported.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { gzipSync } from 'node:zlib';
import { layerTar } from '../../src/images/oci-archive.js';

export const BEHAVIOURS = [
  'ok', 'endless-blob', 'huge-descriptor', 'endless-manifest', 'endless-manifest-by-tag', 'huge-manifest',
  'drip-blob', 'drip-manifest', 'slow-blob', 'hang-blob', 'gate-blob', 'wrong-digest', 'cross-host-realm', 'same-host-realm',
] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

export interface SeenRequest {
  method: string;
  url: string;
  behaviour?: Behaviour;
  authorization?: string;
  /** Body bytes written to the client (for endless bodies: how far the client let it get). */
  bytesSent: number;
  /** The connection closed before the response ended (the client gave up on it). */
  closedEarly: boolean;
  ended: boolean;
}

export interface HostileOptions {
  /** Ticks of drip and slow behaviours (ms). drip-* send 1 byte per tick, slow-blob 4 KiB per tick. */
  tickMs?: number;
  /** The descriptor size of an endless blob's layer (its real bytes are this long; the server sends more). */
  layerBytes?: number;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** Without the client's fix an endless body would fill the disk; the server stops here. */
const ENDLESS_CAP = 256 << 20;

interface Image {
  manifest: Buffer;
  config: Buffer;
  layer: Buffer;
  layerDigest: string;
}

/** The fake token server of another host (127.0.0.2): records what it was sent, refuses anonymous requests. */
export class FakeRealm {
  readonly seen: { url: string; authorization?: string }[] = [];
  private constructor(private readonly server: http.Server, readonly port: number) {}

  get url(): string {
    return `http://127.0.0.2:${this.port}/token`;
  }

  static async start(): Promise<FakeRealm> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.2', resolve);
    });
    const realm = new FakeRealm(server, (server.address() as net.AddressInfo).port);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      realm.seen.push({ url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      if (!req.headers.authorization) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'credentials required' }] }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: 'stolen', expires_in: 300 }));
    });
    return realm;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

export class HostileRegistry {
  readonly seen: SeenRequest[] = [];
  /** Token requests the same-host realm received (path /token on this server). */
  readonly tokenRequests: { authorization?: string }[] = [];
  private readonly images = new Map<Behaviour, Image>();
  private readonly gates: (() => void)[] = [];
  private gateOpen = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private openSockets = 0;

  private constructor(private readonly server: http.Server, readonly port: number, private readonly realm: FakeRealm, private readonly opts: Required<HostileOptions>) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `127.0.0.1:PORT/hostile/<behaviour>:v1` */
  ref(b: Behaviour): string {
    return `${this.host}/hostile/${b}:v1`;
  }

  /** Connections currently open to this server. */
  get connections(): number {
    return this.openSockets;
  }

  get realmSeen(): FakeRealm['seen'] {
    return this.realm.seen;
  }

  layerOf(b: Behaviour): { digest: string; size: number } {
    const img = this.images.get(b)!;
    return { digest: img.layerDigest, size: img.layer.length };
  }

  requestsFor(b: Behaviour): SeenRequest[] {
    return this.seen.filter((r) => r.behaviour === b);
  }

  /** Let the gate-blob requests waiting so far (and all later ones) through. */
  openGate(): void {
    this.gateOpen = true;
    for (const g of this.gates.splice(0)) g();
  }

  static async start(opts: HostileOptions = {}): Promise<HostileRegistry> {
    const full: Required<HostileOptions> = { tickMs: opts.tickMs ?? 100, layerBytes: opts.layerBytes ?? 256 << 10 };
    const realm = await FakeRealm.start();
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const reg = new HostileRegistry(server, (server.address() as net.AddressInfo).port, realm, full);
    server.on('connection', (s: net.Socket) => {
      reg.openSockets++;
      s.once('close', () => reg.openSockets--);
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => reg.handle(req, res));
    for (const b of BEHAVIOURS) reg.images.set(b, await reg.build(b));
    return reg;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.openGate();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
    await this.realm.close();
  }

  private async build(b: Behaviour): Promise<Image> {
    const size = b === 'endless-blob' || b === 'drip-blob' || b === 'slow-blob' ? this.opts.layerBytes : 4096;
    const tar = await layerTar([{ type: 'file', path: 'hostile', content: randomBytes(size), mode: 0o644 }]);
    const layer = gzipSync(tar, { level: 1 });
    const config = Buffer.from(JSON.stringify({
      architecture: 'amd64', os: 'linux', config: { Cmd: ['/hostile'] }, rootfs: { type: 'layers', diff_ids: [sha(tar)] },
    }));
    const layerDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: b === 'huge-descriptor' ? 1e15 : layer.length };
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [layerDesc],
    }));
    return { manifest, config, layer, layerDigest: layerDesc.digest };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const m = /^\/v2\/hostile\/([a-z-]+)\/(manifests|blobs)\/(.+)$/.exec(url);
    const behaviour = BEHAVIOURS.find((b) => b === m?.[1]);
    const rec: SeenRequest = { method: req.method ?? 'GET', url, bytesSent: 0, closedEarly: false, ended: false, ...(behaviour ? { behaviour } : {}), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) };
    this.seen.push(rec);
    res.once('finish', () => (rec.ended = true));
    res.once('close', () => (rec.closedEarly = !rec.ended));
    if (url.startsWith('/token')) {
      this.tokenRequests.push({ ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: 'same-host', expires_in: 300 }));
      return;
    }
    if (url === '/v2/' || url === '/v2') return void res.writeHead(200).end('{}');
    if (!m || !behaviour) return void res.writeHead(404).end();
    const img = this.images.get(behaviour)!;
    const [, , kind, what] = m;

    if (behaviour === 'cross-host-realm' || behaviour === 'same-host-realm') {
      const expected = behaviour === 'same-host-realm' ? 'Bearer same-host' : 'Bearer stolen';
      if (req.headers.authorization !== expected) {
        const realm = behaviour === 'cross-host-realm' ? this.realm.url : `http://${this.host}/token`;
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="hostile",scope="repository:hostile/${behaviour}:pull"`, 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
    }

    if (kind === 'manifests') {
      const headers: http.OutgoingHttpHeaders = { 'Content-Type': MANIFEST_TYPE, 'Docker-Content-Digest': sha(img.manifest), 'Content-Length': img.manifest.length };
      if (behaviour === 'huge-manifest') headers['Content-Length'] = 1e15;
      if (behaviour === 'endless-manifest-by-tag') delete headers['Docker-Content-Digest'];
      if (req.method === 'HEAD') {
        res.writeHead(200, headers);
        res.end();
        return;
      }
      if (behaviour === 'huge-manifest') return void res.writeHead(200, { 'Content-Type': MANIFEST_TYPE }).end(img.manifest);
      if (behaviour === 'endless-manifest' || behaviour === 'endless-manifest-by-tag') return this.endless(res, rec, { 'Content-Type': MANIFEST_TYPE }, Buffer.concat([img.manifest.subarray(0, img.manifest.length - 1), Buffer.alloc(64 << 10, 0x20)]));
      if (behaviour === 'drip-manifest') return this.drip(res, rec, img.manifest, 1, { 'Content-Type': MANIFEST_TYPE });
      res.writeHead(200, headers);
      res.end(img.manifest);
      rec.bytesSent = img.manifest.length;
      return;
    }

    if (what === sha(img.config)) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': img.config.length });
      res.end(img.config);
      return;
    }
    if (what !== img.layerDigest) return void res.writeHead(404).end();
    switch (behaviour) {
      case 'endless-blob':
        return this.endless(res, rec, { 'Content-Type': 'application/octet-stream' }, Buffer.concat([img.layer, randomBytes(64 << 10)]));
      case 'drip-blob':
        return this.drip(res, rec, img.layer, 1);
      case 'slow-blob':
        return this.drip(res, rec, img.layer, 4096);
      case 'hang-blob':
        return; // never answers: only the client can end this
      case 'gate-blob':
        if (this.gateOpen) break;
        this.gates.push(() => this.send(res, rec, img.layer));
        return;
      case 'wrong-digest': {
        const bad = Buffer.from(img.layer);
        bad[bad.length >> 1]! ^= 0xff;
        return this.send(res, rec, bad);
      }
      default:
        break;
    }
    this.send(res, rec, img.layer);
  }

  private send(res: http.ServerResponse, rec: SeenRequest, body: Buffer): void {
    if (res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
    rec.bytesSent = body.length;
  }

  /** `first`, then filler forever (up to ENDLESS_CAP), with backpressure: only what the client reads is sent. */
  private endless(res: http.ServerResponse, rec: SeenRequest, headers: http.OutgoingHttpHeaders, first: Buffer): void {
    res.writeHead(200, headers);
    const filler = Buffer.alloc(64 << 10, 0x20);
    let chunk = first;
    const pump = (): void => {
      while (!res.destroyed && rec.bytesSent < ENDLESS_CAP) {
        rec.bytesSent += chunk.length;
        const more = res.write(chunk);
        chunk = filler;
        if (!more) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  /** `body`, `per` bytes per tick. */
  private drip(res: http.ServerResponse, rec: SeenRequest, body: Buffer, per: number, headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream' }): void {
    res.writeHead(200, { ...headers, 'Content-Length': body.length });
    let at = 0;
    const timer = setInterval(() => {
      if (res.destroyed || at >= body.length) {
        clearInterval(timer);
        this.timers.delete(timer);
        if (!res.destroyed) res.end();
        return;
      }
      const part = body.subarray(at, at + per);
      at += part.length;
      rec.bytesSent += part.length;
      res.write(part);
    }, this.opts.tickMs);
    this.timers.add(timer);
    res.once('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
  }
}
