// Registries for pull tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with its own storage,
// images pushed with skopeo from OCI layouts built here, a test CA from openssl, htpasswd (bcrypt) users,
// and a small Node front that can answer with a bearer-token challenge or inject faults.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { layerTar, type LayerEntry } from '../../src/images/oci-archive.js';
import { busyboxRootfs } from '../../src/images/busybox-rootfs.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface RegistryOptions {
  tls?: { cert: string; key: string };
  /** htpasswd file: the registry then requires basic auth. */
  htpasswd?: string;
}

/** docker-registry as a child process; `stop()` kills it by PID and removes its storage. */
export class TestRegistry {
  private child: ChildProcess | undefined;
  private constructor(readonly dir: string, readonly port: number, readonly opts: RegistryOptions) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get logFile(): string {
    return path.join(this.dir, 'registry.log');
  }

  static async start(opts: RegistryOptions = {}): Promise<TestRegistry> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'breg-'));
    const r = new TestRegistry(dir, await freePort(), opts);
    const tls = opts.tls ? `  tls:\n    certificate: ${opts.tls.cert}\n    key: ${opts.tls.key}\n` : '';
    const auth = opts.htpasswd ? `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${opts.htpasswd}\n` : '';
    await writeFile(path.join(dir, 'config.yml'), `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${r.port}
  secret: ${randomBytes(8).toString('hex')}
${tls}${auth}`);
    await r.launch();
    return r;
  }

  async launch(): Promise<void> {
    // A second process could not bind the port, and the first one would answer for it.
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    const log = openSync(this.logFile, 'a');
    this.child = spawn('docker-registry', ['serve', path.join(this.dir, 'config.yml')], { stdio: ['ignore', log, log] });
    closeSync(log);
    const child = this.child;
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${readFileSync(this.logFile, 'utf8')}`);
      return new Promise<boolean>((resolve) => {
        const s = net.connect(this.port, '127.0.0.1', () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
    }, 20_000, 'docker-registry to listen');
  }

  /** Stop the registry process (by PID); storage stays, so `launch()` brings the same images back. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** skopeo copy of an OCI layout (`dir`, tag `latest`) to `repo:tag` here; `all` copies every platform. */
  async push(layout: string, repo: string, tag: string, extra: { all?: boolean; creds?: string; certDir?: string } = {}): Promise<void> {
    const args = ['copy', '--quiet', ...(extra.all ? ['--all'] : []), '--dest-tls-verify=false', ...(extra.creds ? ['--dest-creds', extra.creds] : []), `oci:${layout}:latest`, `docker://${this.host}/${repo}:${tag}`];
    await run('skopeo', args, { timeout: 120_000 });
  }
}

// ---- OCI layouts --------------------------------------------------------------------------------------

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface LayoutImage {
  architecture: string;
  layers: LayerEntry[][];
  cmd?: string[];
}

export interface BuiltImage {
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
  manifestSize: number;
}

export interface BuiltLayout {
  dir: string;
  images: BuiltImage[];
  /** The index digest when the layout holds several platforms. */
  indexDigest?: string;
}

/**
 * An OCI layout dir with one image, or with an image index of several platforms (tag `latest`), ready for
 * `skopeo copy oci:DIR:latest`. Layers are gzip-compressed like a real registry's. `tamper.diffIds` makes
 * the config lie about the layers' uncompressed digests (the returned `diffIds` stay the real ones).
 */
export async function buildLayout(dir: string, images: LayoutImage[], asIndex = images.length > 1, tamper: { diffIds?: (real: string[]) => string[] } = {}): Promise<BuiltLayout> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    const d = sha(b);
    await writeFile(path.join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const built: BuiltImage[] = [];
  const descs: { mediaType: string; digest: string; size: number; platform: { os: string; architecture: string } }[] = [];
  for (const img of images) {
    const diffIds: string[] = [];
    const layers = [];
    for (const entries of img.layers) {
      const tar = await layerTar(entries);
      diffIds.push(sha(tar));
      // level 1: test layers of random bytes do not compress anyway, and this keeps builds quick.
      const gz = gzipSync(tar, { level: 1 });
      layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(gz), size: gz.length });
    }
    const config = Buffer.from(JSON.stringify({
      architecture: img.architecture, os: 'linux',
      config: { Cmd: img.cmd ?? ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: tamper.diffIds ? tamper.diffIds(diffIds) : diffIds },
    }));
    const configDigest = await put(config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers,
    }));
    const manifestDigest = await put(manifest);
    built.push({ manifestDigest, configDigest, layerDigests: layers.map((l) => l.digest), diffIds, manifestSize: manifest.length });
    descs.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, platform: { os: 'linux', architecture: img.architecture } });
  }
  let top: { mediaType: string; digest: string; size: number };
  let indexDigest: string | undefined;
  if (asIndex) {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descs }));
    indexDigest = await put(index);
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length };
  } else {
    const d = descs[0]!;
    top = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  }
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  return { dir, images: built, ...(indexDigest ? { indexDigest } : {}) };
}

/** busybox plus `extra` layers of `layerBytes` random bytes each (incompressible, so sizes are real). */
export function busyboxLayers(extra = 1, layerBytes = 64 << 10, marker = 'amd64'): LayerEntry[][] {
  const layers: LayerEntry[][] = [busyboxRootfs(), [{ type: 'file', path: 'platform', content: Buffer.from(`${marker}\n`), mode: 0o644 }]];
  for (let i = 1; i < extra; i++) layers.push([{ type: 'file', path: `data/blob-${i}`, content: randomBytes(layerBytes), mode: 0o644 }]);
  return layers;
}

// ---- TLS and users ------------------------------------------------------------------------------------

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it. */
export async function testCa(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const f = (n: string): string => path.join(dir, n);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth test CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr')]);
  await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.pem')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

/** An htpasswd file with one bcrypt user (distribution accepts bcrypt only). */
export async function htpasswd(file: string, user: string, password: string): Promise<void> {
  const { stdout } = await run('htpasswd', ['-Bbn', user, password]);
  await writeFile(file, stdout);
}

// ---- A Node front: bearer-token challenge and fault injection -------------------------------------------

export interface FrontOptions {
  /** Require `Authorization: Bearer` and serve tokens at /token (for this user/password, if given). */
  bearer?: { user?: string; password?: string };
  /** Answer the first N blob GETs with 503 (Retry-After: 0). */
  fail503?: number;
  /** For the first GET of this blob, send half the body and destroy the connection. */
  dropMidBlob?: string;
  /** Flip a byte in this blob on every GET (a registry serving corrupt data). */
  corruptBlob?: string;
  /** Hold GETs of this blob (no answer at all) until `release()`. */
  holdBlob?: string;
}

export interface SeenRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

/** An HTTP proxy in front of a plain-HTTP registry; records every request it sees. */
export class RegistryFront {
  readonly seen: SeenRequest[] = [];
  private readonly tokens = new Set<string>();
  private failed503 = 0;
  private dropped = false;
  private held: (() => void)[] = [];
  private releasedHold = false;
  private constructor(private readonly server: http.Server, readonly port: number, private readonly upstream: string, readonly opts: FrontOptions) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(upstream: string, opts: FrontOptions): Promise<RegistryFront> {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const front = new RegistryFront(server, (server.address() as net.AddressInfo).port, upstream, opts);
    server.on('request', (req, res) => void front.handle(req, res).catch(() => res.destroy()));
    return front;
  }

  /** Let held requests (and later ones) through. */
  release(): void {
    this.releasedHold = true;
    for (const go of this.held.splice(0)) go();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    this.seen.push({ method: req.method ?? 'GET', url, ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const bearer = this.opts.bearer;
    if (bearer && url.startsWith('/token')) return this.token(req, res, bearer);
    if (bearer) {
      const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!given || !this.tokens.has(given)) {
        const repo = /^\/v2\/(.+?)\/(manifests|blobs)\//.exec(url)?.[1] ?? '';
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${this.host}/token",service="berth-test",scope="repository:${repo}:pull"`, 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
    }
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url)?.[1];
    if (blob && req.method === 'GET' && this.failed503 < (this.opts.fail503 ?? 0)) {
      this.failed503++;
      res.writeHead(503, { 'Retry-After': '0' });
      res.end('try later');
      return;
    }
    if (blob && req.method === 'GET' && blob === this.opts.holdBlob && !this.releasedHold) await new Promise<void>((go) => this.held.push(go));
    const headers = { ...req.headers, host: this.upstream };
    delete headers.authorization;
    const up = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const r = http.request(`http://${this.upstream}${url}`, { method: req.method, headers }, resolve);
      r.on('error', reject);
      r.end();
    });
    if (blob && req.method === 'GET' && up.statusCode === 200 && ((this.opts.dropMidBlob === blob && !this.dropped) || this.opts.corruptBlob === blob)) {
      const body = Buffer.concat(await up.toArray() as Buffer[]);
      res.writeHead(200, up.headers);
      if (this.opts.corruptBlob === blob) {
        body[body.length >> 1] ^= 0xff;
        res.end(body);
        return;
      }
      this.dropped = true;
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  }

  private token(req: http.IncomingMessage, res: http.ServerResponse, bearer: { user?: string; password?: string }): void {
    if (bearer.user !== undefined) {
      const expected = `Basic ${Buffer.from(`${bearer.user}:${bearer.password ?? ''}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
    }
    const token = randomBytes(16).toString('hex');
    this.tokens.add(token);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  }
}
