// R7 security: hostile archives. A live berthd is asked, through its API, to import things no import may
// accept: files that are not regular files (FIFO, device, directory, socket, a symlink to a FIFO), gzip
// bombs (a tar of 200 MiB of zeros, and 200 MiB of bare zeros) under images.max-unpacked-size = 50Mi, a
// tar header declaring 1 TiB, a truncated archive, a blob that does not match its digest, `..` entry names
// and hard links pointing out of the layer, a zstd layer and a layer that is not a tar. Each attempt must be
// refused with INVALID_ARGUMENT naming `path`, promptly, with berthd still the same process, nothing left in
// either namespace (no new leases, ingests, content, snapshots or images) and no file written outside.
// Five concurrent FIFO imports must not stop a settings `set` from answering.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiError, type BerthClient } from '../../src/cli/client.js';
import type { TestBerthd } from '../../tests/support/berthd.js';
import { brokenArchives } from '../../tests/support/images.js';
import { archiveWithLayers, gzipChunks, gzLayer, tarEntry, tarHeader, zeroFileLayer, zeros, GZIP_LAYER } from '../../tests/support/hostile-archives.js';
import { withDeadline } from '../../tests/support/wait.js';
import { client, dropBerthd, newBerthd, NS, WORKLOAD_NS, type ChaosEnv } from './env.js';
import { Tally, type Row } from './lib.js';

const execFileP = promisify(execFile);

interface Snapshot {
  leases: number;
  ingests: number;
  content: number;
  snapshots: number;
  images: number;
}

async function state(env: ChaosEnv, ns: string): Promise<Snapshot> {
  const call = { namespace: ns };
  return {
    leases: (await env.cc.listLeases([], call)).length,
    ingests: (await env.cc.listIngests([], call)).length,
    content: (await env.cc.listContent([], call)).length,
    snapshots: (await env.cc.listSnapshots('overlayfs', [], call)).length,
    images: (await env.cc.listImages([], call)).length,
  };
}

/** The archives (and non-files) to try, by name, with what the refusal must say. */
async function hostile(dir: string, escape: string): Promise<{ attempts: [string, string, RegExp][]; close: () => void }> {
  const fifo = path.join(dir, 'archive.fifo');
  await execFileP('mkfifo', [fifo]);
  const sock = path.join(dir, 'archive.sock');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(sock, r));
  const sub = path.join(dir, 'a-dir.tar');
  await mkdir(sub);
  const link = path.join(dir, 'link.tar');
  await execFileP('ln', ['-s', fifo, link]);
  const bomb = await zeroFileLayer(200);
  const raw = await gzipChunks(zeros(200));
  const broken = await brokenArchives(path.join(dir, 'broken'));
  const a = (name: string): string => path.join(dir, `${name}.tar`);
  const zero = `sha256:${'0'.repeat(64)}`;
  const attempts: [string, string, RegExp][] = [
    ['FIFO', fifo, /is a FIFO \(named pipe\), not a regular file/],
    ['character device /dev/zero', '/dev/zero', /\/dev\/zero is a character device, not a regular file/],
    ['directory', sub, /is a directory, not a regular file/],
    ['unix socket', sock, /is a socket, not a regular file/],
    ['symlink to a FIFO', link, /is a FIFO \(named pipe\), not a regular file/],
    ['gzip bomb: tar of 200 MiB of zeros', await archiveWithLayers(a('bomb'), 'localhost/hostile/bomb:1', [{ blob: bomb.gz, mediaType: GZIP_LAYER, diffId: bomb.diffId }]), /max-unpacked-size/],
    ['gzip bomb: 200 MiB of bare zeros', await archiveWithLayers(a('raw-bomb'), 'localhost/hostile/raw:1', [{ blob: raw.gz, mediaType: GZIP_LAYER, diffId: raw.diffId }]), /max-unpacked-size/],
    ['tar header declaring 1 TiB', await archiveWithLayers(a('huge'), 'localhost/hostile/huge:1', [await gzLayer(tarHeader('big', 2 ** 40), Buffer.alloc(512))]), /max-unpacked-size/],
    ['truncated archive', broken.truncated, /truncated/],
    ['blob not matching its digest', broken.badDigest, /digest/],
    ['path traversal in a tar name', await archiveWithLayers(a('dotdot'), 'localhost/hostile/dotdot:1', [await gzLayer(tarEntry(`../../../../../../tmp/${escape}`, Buffer.from('escaped')))]), /has a "\.\." path component/],
    ['hard link out of the layer', await archiveWithLayers(a('hardlink'), 'localhost/hostile/hardlink:1', [await gzLayer(tarEntry('h', Buffer.alloc(0), '1', '../../../etc/shadow'))]), /hard link/],
    ['zstd layer', await archiveWithLayers(a('zstd'), 'localhost/hostile/zstd:1', [{ blob: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', diffId: zero }]), /zstd/],
    ['layer that is not a tar', await archiveWithLayers(a('json'), 'localhost/hostile/json:1', [{ blob: Buffer.from('{"not":"a layer"}'), mediaType: GZIP_LAYER, diffId: zero }]), /not a tar stream/],
  ];
  return { attempts, close: () => server.close() };
}

export async function r7Archives(env: ChaosEnv): Promise<Row[]> {
  const t = new Tally('R7 security: hostile archives');
  const rounds = env.mode === 'full' ? 3 : 1;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'chaos-r7-'));
  const escape = `berth-r7-escape-${randomBytes(4).toString('hex')}`;
  let b: TestBerthd | undefined;
  let c: BerthClient | undefined;
  let files: { attempts: [string, string, RegExp][]; close: () => void } | undefined;
  try {
    b = await newBerthd(env, {});
    await b.start(120_000);
    const cl = (c = client(b));
    const pid = b.pid;
    await cl.settings.set({ 'images.max-unpacked-size': '50Mi' });
    files = await hostile(tmp, escape);
    for (let round = 1; round <= rounds; round++) {
      for (const [what, file, msg] of files.attempts) {
        await t.run(`${what} (round ${round})`, async () => {
          const before = [await state(env, NS), await state(env, WORKLOAD_NS)];
          const e = await withDeadline(cl.images.import(file, undefined, { timeoutMs: 60_000 }).then(() => undefined, (err: unknown) => err), 60_000, `import of ${what}`);
          const out: string[] = [];
          if (e === undefined) out.push('imported');
          else if (!(e instanceof ApiError)) out.push(`not an API error: ${String(e)}`);
          else {
            if (e.codeName !== 'INVALID_ARGUMENT') out.push(`code ${e.codeName}: ${e.message.slice(0, 300)}`);
            if (!/^path: /.test(e.message)) out.push(`does not name the field: ${e.message.slice(0, 300)}`);
            if (!msg.test(e.message)) out.push(`does not say why (${msg}): ${e.message.slice(0, 300)}`);
          }
          const after = [await state(env, NS), await state(env, WORKLOAD_NS)];
          for (const [i, ns] of [NS, WORKLOAD_NS].entries()) {
            const x = before[i]!;
            const y = after[i]!;
            // Compared with before the attempt, not with zero: the containerd is shared with the other scenarios,
            // and a berthd they SIGKILLed may have left a lease that expires by itself.
            if (y.leases > x.leases || y.ingests > x.ingests) out.push(`${ns}: ${y.leases - x.leases} leases, ${y.ingests - x.ingests} ingests left`);
            if (y.content > x.content || y.snapshots > x.snapshots || y.images > x.images) out.push(`${ns}: grew ${JSON.stringify(x)} → ${JSON.stringify(y)}`);
          }
          if (existsSync(`/tmp/${escape}`)) out.push(`/tmp/${escape} was written`);
          if (b!.pid !== pid || b!.child?.exitCode !== null) out.push('berthd exited');
          return out;
        });
      }
      await t.run(`5 concurrent FIFO imports, then a settings set (round ${round})`, async () => {
        const fifo = files!.attempts[0]![1];
        const imports = Array.from({ length: 5 }, () => cl.images.import(fifo, undefined, { timeoutMs: 60_000 }).then(() => 'imported', (e: unknown) => (e instanceof ApiError ? e.codeName : String(e))));
        const out: string[] = [];
        await withDeadline(cl.settings.set({ 'images.max-unpacked-size': round % 2 ? '51Mi' : '50Mi' }), 20_000, 'settings set during FIFO imports').catch((e: Error) => out.push(e.message));
        const codes = await withDeadline(Promise.all(imports), 20_000, 'FIFO imports refused');
        if (codes.some((x) => x !== 'INVALID_ARGUMENT')) out.push(`answers: ${codes.join(',')}`);
        return out;
      });
    }
    t.note = `${files.attempts.length + 1} attempts × ${rounds} round(s) through the API; images.max-unpacked-size = 50Mi`;
  } catch (e) {
    t.fail(`setup: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    files?.close();
    c?.close();
    if (b) await dropBerthd(env, b);
    await rm(tmp, { recursive: true, force: true });
  }
  return [t.row()];
}
