// Update repositories for tests: berth-repo run as a child process (the operator's path), fake image files
// per version, and a tiny static file server on 127.0.0.1 (any static server must do, so: no logic).
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_MAIN = fileURLToPath(new URL('../../src/repo/main.js', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function berthRepo(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [REPO_MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export async function mustRepo(args: string[]): Promise<string> {
  const r = await berthRepo(args);
  if (r.code !== 0) throw new Error(`berth-repo ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export interface FakeBuild {
  readonly version: string;
  readonly rootImage: string;
  readonly kernel: string;
  readonly initramfs: string;
  readonly rootHash: string;
  readonly hashOffset: number;
}

/** Random files standing in for an image build; the root hash is a stand-in too (the installer is fake). */
export async function fakeBuild(dir: string, version: string, size = 256 * 1024): Promise<FakeBuild> {
  const rootImage = join(dir, `root-${version}.img`);
  const bytes = randomBytes(size);
  await writeFile(rootImage, bytes);
  await writeFile(join(dir, `vmlinuz-${version}`), `kernel ${version}\n`);
  await writeFile(join(dir, `initrd-${version}`), `initramfs ${version}\n`);
  return {
    version, rootImage, kernel: join(dir, `vmlinuz-${version}`), initramfs: join(dir, `initrd-${version}`),
    rootHash: createHash('sha256').update(bytes).digest('hex'), hashOffset: size / 2,
  };
}

export async function publish(repo: string, b: FakeBuild, extra: string[] = [], variant = 'metal'): Promise<void> {
  await mustRepo([
    'add', repo, '--version', b.version, '--variant', variant, '--arch', 'x86_64',
    '--root-image', b.rootImage, '--root-hash', b.rootHash, '--hash-offset', String(b.hashOffset),
    '--kernel', b.kernel, '--initramfs', b.initramfs, ...extra,
  ]);
}

export interface StaticServer {
  readonly url: string;
  readonly requests: string[];
  close(): Promise<void>;
}

/** Serves `root` read-only on 127.0.0.1; 404 for anything missing or outside it. */
export async function serveStatic(root: string): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) return void res.writeHead(404).end();
    stat(file).then(
      (s) => {
        if (!s.isFile()) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-length': s.size });
        createReadStream(file).pipe(res);
      },
      () => void res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
