// Pulling through berthd: the streaming Pull RPC and `berthctl images pull`, units whose image comes from a
// registry, pull policy (a cached image needs no network; `always` asks the registry), and prune.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { TestRegistry, buildLayout, busyboxLayers, type BuiltLayout } from '../support/registry.js';
import { hostUnit, waitUnit, IDLE } from '../support/units.js';
import { BUSYBOX_REF } from '../support/images.js';
import { BerthClient, type PullProgressMessage } from '../../src/cli/client.js';
import { ImageService } from '../../src/images/image-service.js';
import { writeBlob } from '../../src/containerd/content-writer.js';
import { policyOf, type PolicySettings } from '../../src/settings/index.js';
import type { ContainerdClient } from '../../src/containerd/client.js';

const run = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');
const NS = 'berth';

let ctd: TestContainerd;
let cc: ContainerdClient;
let reg: TestRegistry;
let work: string;
let app: BuiltLayout;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bpulld-'));
  ctd = await TestContainerd.start();
  cc = ctd.client(NS);
  reg = await TestRegistry.start();
  app = await buildLayout(path.join(work, 'app'), [{ architecture: 'amd64', layers: busyboxLayers(3, 128 << 10) }]);
  await reg.push(app.dir, 'test/app', 'v1');
});

after(async () => {
  cc?.close();
  await reg?.stop();
  await ctd?.stop();
  await rm(work, { recursive: true, force: true });
});

function policy(pullPolicy: 'if-not-present' | 'always', insecure: string[]): () => PolicySettings {
  const p: PolicySettings = {
    selinuxMode: 'auto',
    containerRegistry: { mirrors: new Map(), credentials: new Map(), insecure: new Map(insecure.map((h) => [h, true])) },
    workloads: { runtime: 'containerd', hostPathAllowList: [], allowedCapabilities: [], requireMemoryLimit: false },
    images: { ...policyOf(new Map()).images, pullPolicy, maxUnpackedSize: 8 * 1024 ** 3 },
  };
  return () => p;
}

test('berthd pulls over the API and CLI; with the registry stopped a unit on the cached image starts normally; prune keeps it', async () => {
  const ref = `${reg.host}/test/app:v1`;
  const b = await TestBerthd.create({ containerd: ctd });
  await writeFile(b.settingsDefaults, `[settings.selinux]\nmode = "auto"\n\n[settings.container-registry.insecure]\n"${reg.host}" = true\n`);
  const client = BerthClient.connect({ socketPath: b.socket });
  try {
    await b.start();
    const progress: PullProgressMessage[] = [];
    for await (const p of client.images.pull(ref)) progress.push(p);
    const done = progress[progress.length - 1]!;
    assert.equal(done.phase, 'done');
    assert.equal(done.name, ref);
    assert.equal(done.digest, app.images[0]!.manifestDigest);
    assert.equal(done.layersTotal, 4);
    assert.equal(done.bytesDone, done.bytesTotal);
    assert.ok(progress.some((p) => p.phase === 'fetching'), JSON.stringify(progress));

    // The CLI in plain mode (not a terminal): progress lines, then the result.
    const cli = await run(process.execPath, [CLI, '--socket', b.socket, 'images', 'pull', ref]);
    assert.match(cli.stdout, new RegExp(`pulled ${ref.replace(/[.]/g, '\\.')} ${done.digest}`));
    const ls = await client.images.list();
    const listed = ls.find((i) => i.name === ref);
    assert.equal(listed?.digest, done.digest);
    assert.ok((listed?.size ?? 0) > 3 * (128 << 10));

    await assert.rejects(collect(client.images.pull(`${reg.host}/test/missing:v1`)), /test\/missing:v1.*not found/);

    // An orphan blob rooted by a label (as left by an interrupted tool): prune removes it, keeps the image.
    const orphan = Buffer.from('orphan blob');
    const { createHash } = await import('node:crypto');
    const digest = `sha256:${createHash('sha256').update(orphan).digest('hex')}`;
    await writeBlob(cc, orphan, { ref: 'orphan', total: orphan.length, expected: digest, labels: { 'containerd.io/gc.root': new Date().toISOString() }, namespace: NS });
    const pruned = await client.images.prune();
    assert.ok(pruned.contentRemoved >= 1, JSON.stringify(pruned));
    await assert.rejects(cc.contentInfo(digest, { namespace: NS }), /not found/i);
    assert.ok((await client.images.list()).some((i) => i.name === ref));

    // Registry gone, berthd restarted (no in-memory cache): the unit starts from the cached image.
    await reg.kill();
    await b.kill();
    await b.writeUnit('fromreg', hostUnit('fromreg', IDLE).replace(BUSYBOX_REF, ref));
    await b.start();
    const u = await waitUnit(client, 'fromreg', (s) => s.state === 'running', 30_000, 'fromreg running');
    assert.equal(u.state, 'running');
  } finally {
    client.close();
    await b.stop();
    await reg.launch();
    for (const c of await cc.listContainers([], { namespace: NS })) {
      const { ContainerLifecycle } = await import('../../src/containerd/lifecycle.js');
      await new ContainerLifecycle(cc, NS).remove(c.id);
    }
  }
});

test('pull policy: if-not-present uses the cached image offline; always asks the registry', async () => {
  const ns = `policy-${process.pid}`;
  const ref = `${reg.host}/test/app:v1`;
  const cacheDir = path.join(work, 'cache');
  const messages: string[] = [];
  const first = await new ImageService(cc, ns, cacheDir, policy('if-not-present', [reg.host])).ensure(ref, (m) => messages.push(m));
  assert.ok(first.snapshotParent.startsWith('sha256:'));
  assert.ok(messages.some((m) => m.startsWith(`pulling ${ref}:`) && /layers/.test(m)), messages.join('\n'));

  await reg.kill();
  try {
    const offline = await new ImageService(cc, ns, cacheDir, policy('if-not-present', [reg.host])).ensure(ref);
    assert.equal(offline.snapshotParent, first.snapshotParent);
    await assert.rejects(new ImageService(cc, ns, cacheDir, policy('always', [reg.host])).ensure(ref), new RegExp(ref.replace(/[.]/g, '\\.')));
  } finally {
    await reg.launch();
  }
  const always = new ImageService(cc, ns, cacheDir, policy('always', [reg.host]));
  assert.equal((await always.ensure(ref)).snapshotParent, first.snapshotParent);
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
