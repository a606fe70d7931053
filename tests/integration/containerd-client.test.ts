import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { busyboxArchive, twoLayerArchive, brokenArchives, BUSYBOX_REF } from '../support/images.js';
import { minimalSpec } from '../support/minimal-spec.js';
import { waitFor, withDeadline } from '../support/wait.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import type { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { importArchive, ImportError } from '../../src/images/import.js';
import { subscribeEvents, type EventItem } from '../../src/containerd/events.js';
import { InvalidArgumentError, NotFoundError, FailedPreconditionError } from '../../src/containerd/errors.js';
import { DigestMismatchError } from '../../src/containerd/content-writer.js';

const NS = 'berth-test';
let ctd: TestContainerd;
let client: ContainerdClient;
let lc: ContainerLifecycle;
let tmp: string;

before(async () => {
  ctd = await TestContainerd.start();
  client = ctd.client(NS);
  lc = ctd.lifecycle(client, NS);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-client-'));
  await importArchive(client, await busyboxArchive(), { namespace: NS });
});

after(async () => {
  client?.close();
  await ctd?.stop();
  await rm(tmp, { recursive: true, force: true });
});

async function snapshotKeys(ns = NS): Promise<string[]> {
  return (await client.listSnapshots('overlayfs', [], { namespace: ns })).map((s) => s.name);
}

async function collect(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return '';
  let out = '';
  for await (const c of stream) out += c.toString();
  return out;
}

test('Version answers and a namespace round-trips', async () => {
  const v = await client.version();
  assert.match(v.version, /^1\.6\./);
  await client.createNamespace('berth-ns-rt', { 'berth.dev/test': 'yes' });
  const names = await client.listNamespaces();
  const found = names.find((n) => n.name === 'berth-ns-rt');
  assert.deepEqual(found?.labels, { 'berth.dev/test': 'yes' });
  await client.deleteNamespace('berth-ns-rt');
  assert.equal((await client.listNamespaces()).some((n) => n.name === 'berth-ns-rt'), false);
});

test('import of the busybox archive lists the image and unpacks it', async () => {
  const images = await client.listImages();
  const img = images.find((i) => i.name === BUSYBOX_REF);
  assert.ok(img, 'image listed');
  const resolved = await lc.resolveImage(BUSYBOX_REF);
  const top = resolved.chainIds.at(-1)!;
  const snap = await client.statSnapshot('overlayfs', top);
  assert.equal(snap.kind, 'COMMITTED');
  const config = await client.contentInfo(resolved.configDigest);
  assert.equal(config.labels['containerd.io/gc.ref.snapshot.overlayfs'], top);
  assert.deepEqual(await client.listLeases(), [], 'import lease released');
});

test('importing the same archive twice changes nothing', async () => {
  const before = { images: await client.listImages(), content: (await client.listContent()).map((c) => c.digest).sort(), snaps: (await snapshotKeys()).sort() };
  const [again] = await importArchive(client, await busyboxArchive(), { namespace: NS });
  assert.equal(again!.name, BUSYBOX_REF);
  const afterImages = await client.listImages();
  assert.deepEqual(afterImages.map((i) => [i.name, i.target.digest, i.updated_at]), before.images.map((i) => [i.name, i.target.digest, i.updated_at]));
  assert.deepEqual((await client.listContent()).map((c) => c.digest).sort(), before.content);
  assert.deepEqual((await snapshotKeys()).sort(), before.snaps);
});

test('a two-layer image unpacks into a chain and runs', async () => {
  const [img] = await importArchive(client, await twoLayerArchive(), { namespace: NS });
  const resolved = await lc.resolveImage(img!.name);
  assert.equal(resolved.chainIds.length, 2);
  const top = await client.statSnapshot('overlayfs', resolved.chainIds[1]!);
  assert.equal(top.parent, resolved.chainIds[0]);
  await lc.create({ id: 'two-layer', image: img!.name, spec: minimalSpec('two-layer', NS, ['/bin/cat', '/hello.txt']) });
  const run = await lc.run('two-layer', { kind: 'fifo', dir: path.join(tmp, 'fifo') });
  const [out, exit] = await Promise.all([collect(run.stdio!.stdout), run.exited]);
  assert.equal(out, 'hello from layer two\n');
  assert.equal(exit.exitStatus, 0);
  await lc.remove('two-layer');
});

test('a container with args: output captured, exit code through Wait, nothing left after delete', async () => {
  const snapsBefore = await snapshotKeys();
  await lc.create({ id: 'echo', image: BUSYBOX_REF, spec: minimalSpec('echo', NS, ['/bin/sh', '-c', 'echo out-line; echo err-line >&2; exit 3']) });
  const run = await lc.run('echo', { kind: 'fifo', dir: path.join(tmp, 'fifo') });
  const [out, err, exit] = await Promise.all([collect(run.stdio!.stdout), collect(run.stdio!.stderr), run.exited]);
  assert.equal(out, 'out-line\n');
  assert.equal(err, 'err-line\n');
  assert.equal(exit.exitStatus, 3);
  assert.ok(exit.exitedAt instanceof Date);
  await lc.remove('echo');
  await assert.rejects(client.getContainer('echo'), NotFoundError);
  await assert.rejects(client.getTask('echo'), NotFoundError);
  assert.deepEqual(await snapshotKeys(), snapsBefore);
});

test('stdout and stderr to a file', async () => {
  const log = path.join(tmp, 'logs', 'file.log');
  await lc.create({ id: 'tofile', image: BUSYBOX_REF, spec: minimalSpec('tofile', NS, ['/bin/sh', '-c', 'echo one; echo two >&2']) });
  const run = await lc.run('tofile', { kind: 'file', path: log });
  assert.equal((await run.exited).exitStatus, 0);
  await lc.remove('tofile');
  const text = await readFile(log, 'utf8');
  assert.ok(text.includes('one\n') && text.includes('two\n'), text);
});

test('root filesystem is read-only in the minimal spec', async () => {
  await lc.create({ id: 'rofs', image: BUSYBOX_REF, spec: minimalSpec('rofs', NS, ['/bin/sh', '-c', 'touch /x 2>&1; touch /tmp/ok && echo tmp-ok']) });
  const run = await lc.run('rofs', { kind: 'fifo', dir: path.join(tmp, 'fifo') });
  const [out] = await Promise.all([collect(run.stdio!.stdout), run.exited]);
  assert.match(out, /Read-only file system/);
  assert.match(out, /tmp-ok/);
  await lc.remove('rofs');
});

test('a long-running container is killed; exec returns output and exit code', async () => {
  await lc.create({ id: 'sleeper', image: BUSYBOX_REF, spec: minimalSpec('sleeper', NS, ['/bin/sleep', '1000']) });
  const run = await lc.run('sleeper', { kind: 'null' });
  assert.ok(run.pid > 0);
  assert.equal((await client.getTask('sleeper')).status, 'RUNNING');

  const fifo = path.join(tmp, 'exec');
  const ex = await lc.exec('sleeper', 'exec1', ['/bin/sh', '-c', 'echo from-exec; exit 7'], { kind: 'fifo', dir: fifo });
  const [out, exit] = await Promise.all([collect(ex.stdio.stdout), ex.exited]);
  assert.equal(out, 'from-exec\n');
  assert.equal(exit.exitStatus, 7);
  await lc.deleteExec('sleeper', 'exec1', fifo);

  // stdin reaches an exec and EOF ends it (close our end + CloseIO)
  const cat = await lc.exec('sleeper', 'exec2', ['/bin/cat'], { kind: 'fifo', dir: fifo, stdin: true });
  const catOut = collect(cat.stdio.stdout);
  cat.stdio.stdin!.end('piped-in\n');
  await new Promise((r) => cat.stdio.stdin!.once('close', r));
  await client.closeIO('sleeper', 'exec2');
  assert.equal((await withDeadline(cat.exited, 10_000, 'cat to see EOF')).exitStatus, 0);
  assert.equal(await catOut, 'piped-in\n');
  await lc.deleteExec('sleeper', 'exec2', fifo);

  await lc.kill('sleeper', 9);
  assert.equal((await withDeadline(run.exited, 10_000, 'sleeper to exit')).exitStatus, 137);
  await lc.remove('sleeper');
});

test('events: a task start and exit are received', async () => {
  const ac = new AbortController();
  const seen: EventItem[] = [];
  const iter = subscribeEvents(client, [`namespace==${NS}`, ], ac.signal);
  const pump = (async () => {
    for await (const e of iter) {
      seen.push(e);
      if (e.kind === 'event' && e.topic === '/tasks/exit' && e.payload?.container_id === 'evt') break;
    }
  })();
  // The subscription is live once containerd has registered it; a create event proves that.
  await waitFor(async () => {
    await client.createNamespace(`probe${Date.now()}`).catch(() => undefined);
    return true;
  }, 1000, 'probe');
  await lc.create({ id: 'evt', image: BUSYBOX_REF, spec: minimalSpec('evt', NS, ['/bin/true']) });
  const run = await lc.run('evt', { kind: 'null' });
  await run.exited;
  await withDeadline(pump, 10_000, 'exit event');
  ac.abort();
  const topics = seen.filter((e) => e.kind === 'event' && (e.payload?.container_id === 'evt')).map((e) => (e as { topic: string }).topic);
  assert.ok(topics.includes('/tasks/start'), topics.join());
  assert.ok(topics.includes('/tasks/exit'), topics.join());
  const exit = seen.find((e) => e.kind === 'event' && e.topic === '/tasks/exit');
  assert.equal((exit as { payload: Record<string, unknown> }).payload.exit_status, 0);
  await lc.remove('evt');
});

test('containerd killed and restarted: the client reconnects, the task survives and can be stopped', async () => {
  await lc.create({ id: 'survivor', image: BUSYBOX_REF, spec: minimalSpec('survivor', NS, ['/bin/sleep', '1000']) });
  const run = await lc.run('survivor', { kind: 'null' });
  const ac = new AbortController();
  const items: EventItem[] = [];
  const iter = subscribeEvents(client, [`namespace==${NS}`], ac.signal);
  let resynced!: () => void;
  const gotResync = new Promise<void>((r) => (resynced = r));
  let exited!: () => void;
  const gotExit = new Promise<void>((r) => (exited = r));
  const pump = (async () => {
    for await (const e of iter) {
      items.push(e);
      if (e.kind === 'resync') resynced();
      if (e.kind === 'event' && e.topic === '/tasks/exit' && e.payload?.container_id === 'survivor') exited();
    }
  })();
  await new Promise((r) => setImmediate(r));
  await ctd.restart();
  await withDeadline(gotResync, 15_000, 'event stream resync');
  const task = await client.getTask('survivor');
  assert.equal(task.status, 'RUNNING');
  assert.equal(task.pid, run.pid);
  // The Wait from before the restart failed with UNAVAILABLE; a new one works.
  const exit = lc.wait('survivor');
  await lc.kill('survivor', 9);
  assert.equal((await withDeadline(exit, 10_000, 'wait after restart')).exitStatus, 137);
  await withDeadline(gotExit, 10_000, 'exit event after resubscribe');
  ac.abort();
  await pump;
  await lc.remove('survivor');
});

test('bad archives get clear errors and leave nothing behind', async () => {
  const bad = await brokenArchives(path.join(tmp, 'broken'));
  const ns = 'berth-bad';
  const state = async (): Promise<string> => JSON.stringify({
    images: (await client.listImages([], { namespace: ns })).map((i) => i.name),
    content: (await client.listContent([], { namespace: ns })).map((c) => c.digest),
    snaps: await snapshotKeys(ns),
    ingests: await client.listIngests([], { namespace: ns }),
    leases: await client.listLeases([], { namespace: ns }),
  });
  const empty = await state();
  await assert.rejects(importArchive(client, bad.truncated, { namespace: ns }), (e: Error) => e instanceof ImportError && /truncated/.test(e.message));
  assert.equal(await state(), empty);
  await assert.rejects(importArchive(client, bad.badDigest, { namespace: ns }), (e: Error) => (e instanceof DigestMismatchError || e instanceof FailedPreconditionError) && /digest/.test(e.message));
  assert.equal(await state(), empty);
  await assert.rejects(importArchive(client, bad.noIndex, { namespace: ns }), /no index\.json/);
  assert.equal(await state(), empty);
  await assert.rejects(importArchive(client, bad.notTar, { namespace: ns }), ImportError);
  assert.equal(await state(), empty);
  await assert.rejects(importArchive(client, bad.missingBlob, { namespace: ns }), /missing from the archive/);
  assert.equal(await state(), empty);
});

test('a container id containerd rejects gets a clear error and leaves no snapshot', async () => {
  const before = await snapshotKeys();
  await assert.rejects(
    lc.create({ id: 'bad/id..x', image: BUSYBOX_REF, spec: minimalSpec('x', NS, ['/bin/true']) }),
    (e: Error) => (e instanceof InvalidArgumentError) && /bad\/id/.test(e.message),
  );
  assert.deepEqual(await snapshotKeys(), before);
  assert.deepEqual(await client.listLeases(), []);
});

test('a bad command fails at task create with a clear error; cleanup leaves nothing', async () => {
  await lc.create({ id: 'nocmd', image: BUSYBOX_REF, spec: minimalSpec('nocmd', NS, ['/no/such/binary']) });
  await assert.rejects(lc.run('nocmd', { kind: 'null' }), /no such file|not found/i);
  await lc.remove('nocmd');
  await assert.rejects(client.getContainer('nocmd'), NotFoundError);
});
