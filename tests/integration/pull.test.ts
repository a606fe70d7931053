// Pulling from real registries (Debian's docker-registry, images pushed with skopeo) into a private
// containerd: tags, digests, multi-platform indexes, HTTPS with a test CA, basic and bearer auth, mirrors,
// transient faults with resume, a corrupt layer leaving nothing behind.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { waitFor } from '../support/wait.js';
import { TestRegistry, RegistryFront, buildLayout, busyboxLayers, testCa, htpasswd, freePort, type BuiltLayout } from '../support/registry.js';
import { pullImage, type PullOptions } from '../../src/images/pull.js';
import { registryConfig, type RegistrySettings } from '../../src/images/registry/config.js';
import type { PullProgress } from '../../src/images/pull-progress.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { chainIds } from '../../src/containerd/image-manifest.js';
import { snapshotExists } from '../../src/containerd/unpack.js';
import type { RegistryCredentials } from '../../src/settings/index.js';

let ctd: TestContainerd;
let cc: ContainerdClient;
let reg: TestRegistry;
let work: string;
let app: BuiltLayout;
let multi: BuiltLayout;
let nsCounter = 0;

const FAST_RETRY = { baseMs: 20, maxMs: 200 };

function settings(s: { insecure?: string[]; mirrors?: Record<string, string[]>; credentials?: Record<string, RegistryCredentials>; caBundle?: string } = {}): RegistrySettings {
  return {
    mirrors: new Map(Object.entries(s.mirrors ?? {})),
    credentials: new Map(Object.entries(s.credentials ?? {})),
    insecure: new Map((s.insecure ?? []).map((h) => [h, true])),
    ...(s.caBundle ? { caBundle: s.caBundle } : {}),
  };
}

/** A fresh namespace per pull, so "present" and "left behind" are about this pull only. */
const freshNs = (): string => `pull-${process.pid}-${++nsCounter}`;

function pull(ref: string, ns: string, reg: RegistrySettings, extra: Partial<PullOptions> = {}): ReturnType<typeof pullImage> {
  return pullImage(cc, ref, { namespace: ns, registry: registryConfig(reg), retry: FAST_RETRY, ...extra });
}

async function leftovers(ns: string): Promise<{ content: number; snapshots: number; images: number; ingests: number; leases: number }> {
  const call = { namespace: ns };
  return {
    content: (await cc.listContent([], call)).length,
    snapshots: (await cc.listSnapshots('overlayfs', [], call)).length,
    images: (await cc.listImages([], call)).length,
    ingests: (await cc.listIngests([], call)).length,
    leases: (await cc.listLeases([], call)).length,
  };
}

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bpull-'));
  ctd = await TestContainerd.start();
  cc = ctd.client('berth-pull');
  reg = await TestRegistry.start();
  // Three layers: busybox, a marker file, 256 KiB of random bytes (big enough to cut mid-way).
  app = await buildLayout(path.join(work, 'app'), [{ architecture: 'amd64', layers: busyboxLayers(2, 256 << 10), cmd: ['/bin/cat', '/platform'] }]);
  multi = await buildLayout(path.join(work, 'multi'), [
    { architecture: 'amd64', layers: busyboxLayers(1, 0, 'amd64') },
    { architecture: 'arm64', layers: busyboxLayers(1, 0, 'arm64') },
  ]);
  await reg.push(app.dir, 'test/app', 'v1');
  await reg.push(multi.dir, 'test/multi', 'latest', { all: true });
});

after(async () => {
  cc?.close();
  await reg?.stop();
  await ctd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('pull from a plain-HTTP registry', () => {
  test('by tag: image record, content with GC labels, unpacked chain, progress; a second pull downloads no layer', async () => {
    const ns = freshNs();
    const events: PullProgress[] = [];
    const ref = `${reg.host}/test/app:v1`;
    const pulled = await pull(ref, ns, settings({ insecure: [reg.host] }), { onProgress: (p) => events.push(p) });
    const img = app.images[0]!;
    assert.equal(pulled.name, ref);
    assert.equal(pulled.target.digest, img.manifestDigest);
    const record = await cc.getImage(ref, { namespace: ns });
    assert.equal(record.target.digest, img.manifestDigest);
    const manifestInfo = await cc.contentInfo(img.manifestDigest, { namespace: ns });
    assert.equal(manifestInfo.labels['containerd.io/gc.ref.content.config'], img.configDigest);
    assert.equal(manifestInfo.labels['containerd.io/gc.ref.content.l.2'], img.layerDigests[2]);
    const snap = await cc.statSnapshot('overlayfs', pulled.chainId, { namespace: ns });
    assert.equal(snap.kind, 'COMMITTED');
    const configInfo = await cc.contentInfo(img.configDigest, { namespace: ns });
    assert.equal(configInfo.labels['containerd.io/gc.ref.snapshot.overlayfs'], pulled.chainId);
    // Nothing but the image keeps it: the lease is gone.
    assert.equal((await leftovers(ns)).leases, 0);
    const fetching = events.filter((e) => e.phase === 'fetching');
    assert.ok(fetching.length > 0, 'fetching progress reported');
    const last = fetching[fetching.length - 1]!;
    assert.equal(last.layersTotal, 3);
    assert.equal(events[events.length - 1]!.phase, 'done');
    assert.ok(events.some((e) => e.layersDone === 3 && e.bytesDone === e.bytesTotal && e.bytesTotal > 256 << 10), JSON.stringify(events.slice(-3)));

    const front = await RegistryFront.start(reg.host, {});
    try {
      await pull(`${front.host}/test/app:v1`, ns, settings({ insecure: [front.host] }));
      assert.deepEqual(front.seen.filter((r) => r.url.includes('/blobs/') && img.layerDigests.some((d) => r.url.endsWith(d))), [], 'no layer fetched again');
    } finally {
      await front.close();
    }
  });

  test('by digest, and a Docker Hub short name is normalised', async () => {
    const ns = freshNs();
    const img = app.images[0]!;
    const ref = `${reg.host}/test/app@${img.manifestDigest}`;
    const pulled = await pull(ref, ns, settings({ insecure: [reg.host] }));
    assert.equal(pulled.name, ref);
    assert.equal((await cc.getImage(ref, { namespace: ns })).target.digest, img.manifestDigest);
    const wrong = `${reg.host}/test/app@sha256:${'0'.repeat(64)}`;
    await assert.rejects(pull(wrong, freshNs(), settings({ insecure: [reg.host] })), (e: Error) => {
      assert.match(e.message, /not found/);
      assert.ok(e.message.includes(wrong), e.message);
      return true;
    });
  });

  test('an index of two platforms: linux/amd64 by default, arm64 when asked; only the chosen platform is fetched', async () => {
    const ref = `${reg.host}/test/multi:latest`;
    const [amd, arm] = multi.images as [typeof multi.images[0], typeof multi.images[0]];
    const ns = freshNs();
    const pulled = await pull(ref, ns, settings({ insecure: [reg.host] }));
    assert.equal(pulled.target.digest, multi.indexDigest);
    assert.equal(pulled.manifestDigest, amd.manifestDigest);
    const index = await cc.contentInfo(multi.indexDigest!, { namespace: ns });
    assert.deepEqual(new Set([index.labels['containerd.io/gc.ref.content.m.0'], index.labels['containerd.io/gc.ref.content.m.1']]), new Set([amd.manifestDigest, arm.manifestDigest]));
    await assert.rejects(cc.contentInfo(arm.configDigest, { namespace: ns }), /not found/i);
    assert.equal((await cc.getImage(ref, { namespace: ns })).target.media_type, 'application/vnd.oci.image.index.v1+json');

    const nsArm = freshNs();
    const armPulled = await pull(ref, nsArm, settings({ insecure: [reg.host] }), { platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(armPulled.manifestDigest, arm.manifestDigest);
    assert.notEqual(armPulled.chainId, pulled.chainId);
  });

  test('plain HTTP is used only for registries marked insecure', async () => {
    await assert.rejects(pull(`${reg.host}/test/app:v1`, freshNs(), settings(), { retry: { attempts: 1 } }), (e: Error) => {
      assert.ok(e.message.includes(`${reg.host}/test/app:v1`), e.message);
      assert.ok(e.message.includes(`https://${reg.host}`), e.message);
      return true;
    });
  });
});

describe('HTTPS and basic auth', () => {
  let tlsReg: TestRegistry;
  let ca: { ca: string; cert: string; key: string };
  before(async () => {
    ca = await testCa(path.join(work, 'ca'));
    const users = path.join(work, 'htpasswd');
    await htpasswd(users, 'berth', 's3cret');
    // distribution 2.8 serves basic auth only over TLS, which is how it should be used anyway.
    tlsReg = await TestRegistry.start({ tls: { cert: ca.cert, key: ca.key }, htpasswd: users });
    await tlsReg.push(app.dir, 'test/app', 'v1', { creds: 'berth:s3cret' });
  });
  after(async () => {
    await tlsReg?.stop();
  });

  test('with the test CA and the right password the pull succeeds', async () => {
    const ns = freshNs();
    const pulled = await pull(`${tlsReg.host}/test/app:v1`, ns, settings({ caBundle: ca.ca, credentials: { [tlsReg.host]: { username: 'berth', password: 's3cret' } } }));
    assert.equal(pulled.target.digest, app.images[0]!.manifestDigest);
  });

  test('Docker-style auth (base64 user:password) works too', async () => {
    const auth = Buffer.from('berth:s3cret').toString('base64');
    const pulled = await pull(`${tlsReg.host}/test/app:v1`, freshNs(), settings({ caBundle: ca.ca, credentials: { [tlsReg.host]: { auth } } }));
    assert.equal(pulled.target.digest, app.images[0]!.manifestDigest);
  });

  test('a wrong password is a clear, immediate error naming the reference and registry', async () => {
    const ns = freshNs();
    const ref = `${tlsReg.host}/test/app:v1`;
    await assert.rejects(pull(ref, ns, settings({ caBundle: ca.ca, credentials: { [tlsReg.host]: { username: 'berth', password: 'wrong' } } }), { retry: { attempts: 5, baseMs: 5_000, maxMs: 5_000 } }), (e: Error & { code?: number }) => {
      assert.match(e.message, /unauthorized/);
      assert.ok(e.message.includes(ref) && e.message.includes(`https://${tlsReg.host}`), e.message);
      assert.equal(e.code, 16);
      return true;
    });
    assert.deepEqual(await leftovers(ns), { content: 0, snapshots: 0, images: 0, ingests: 0, leases: 0 });
  });

  test('without the CA bundle TLS verification fails with a hint', async () => {
    await assert.rejects(pull(`${tlsReg.host}/test/app:v1`, freshNs(), settings({ credentials: { [tlsReg.host]: { username: 'berth', password: 's3cret' } } })), /TLS verification failed.*ca-bundle/);
  });
});

describe('mirrors, bearer tokens and faults', () => {
  test('mirrors are tried in order: a dead first endpoint is skipped, the origin is never needed', async () => {
    const dead = await freePort();
    const ns = freshNs();
    // The origin does not exist: only the mirror can serve it.
    const pulled = await pull('registry.invalid/test/app:v1', ns, settings({ mirrors: { 'registry.invalid': [`http://127.0.0.1:${dead}`, `http://${reg.host}`] } }));
    assert.equal(pulled.name, 'registry.invalid/test/app:v1');
    assert.equal(pulled.target.digest, app.images[0]!.manifestDigest);
  });

  test('bearer-token registry: the WWW-Authenticate challenge is answered with a token from the realm', async () => {
    const front = await RegistryFront.start(reg.host, { bearer: { user: 'tok', password: 'pw' } });
    try {
      const ref = `${front.host}/test/app:v1`;
      const pulled = await pull(ref, freshNs(), settings({ insecure: [front.host], credentials: { [front.host]: { username: 'tok', password: 'pw' } } }));
      assert.equal(pulled.target.digest, app.images[0]!.manifestDigest);
      const tokenRequests = front.seen.filter((r) => r.url.startsWith('/token'));
      assert.ok(tokenRequests.length >= 1);
      assert.match(tokenRequests[0]!.url, /scope=repository%3Atest%2Fapp%3Apull/);
      assert.ok(front.seen.some((r) => r.url.includes('/blobs/') && r.authorization?.startsWith('Bearer ')));

      await assert.rejects(pull(ref, freshNs(), settings({ insecure: [front.host], credentials: { [front.host]: { username: 'tok', password: 'nope' } } })), /refused the credentials/);
    } finally {
      await front.close();
    }
  });

  test('503 twice and a connection dropped mid-layer: retried, the layer resumed with a Range request', async () => {
    // A layer no other namespace holds: with a blob another namespace had committed, the retried write was
    // seen to restart at 0 (containerd shares committed blobs across namespaces), hiding the resume.
    const fresh = await buildLayout(path.join(work, 'fresh'), [{ architecture: 'amd64', layers: busyboxLayers(2, 256 << 10) }]);
    await reg.push(fresh.dir, 'test/fresh', 'v1');
    const big = fresh.images[0]!.layerDigests[2]!;
    const front = await RegistryFront.start(reg.host, { fail503: 2, dropMidBlob: big });
    const retries: string[] = [];
    try {
      const pulled = await pull(`${front.host}/test/fresh:v1`, freshNs(), settings({ insecure: [front.host] }), { onProgress: (p) => p.message.startsWith('retrying') && retries.push(p.message), concurrency: 1 });
      assert.equal(pulled.target.digest, fresh.images[0]!.manifestDigest);
      const gets = front.seen.filter((r) => r.url.endsWith(big) && r.method === 'GET');
      assert.ok(gets.some((r) => r.range && /^bytes=[1-9]\d*-$/.test(r.range)), `resumed with Range: ${JSON.stringify(gets)}`);
      assert.ok(retries.length >= 3, retries.join('\n'));
    } finally {
      await front.close();
    }
  });

  test('layers unpack as they arrive: the lower ones are in the snapshotter while the top one still downloads', async () => {
    const image = app.images[0]!;
    const last = image.layerDigests.at(-1)!;
    const front = await RegistryFront.start(reg.host, { holdBlob: last });
    const ns = freshNs();
    try {
      const pulling = pull(`${front.host}/test/app:v1`, ns, settings({ insecure: [front.host] }));
      const below = chainIds(image.diffIds).at(-2)!;
      // Every layer under the held one is unpacked and committed before its bytes have come at all.
      await waitFor(async () => snapshotExists(cc, 'overlayfs', below, ns), 20_000, `snapshot ${below} while ${last} is held`);
      assert.equal(front.seen.filter((r) => r.url.endsWith(last)).length, 1, 'the top layer was asked for');
      front.release();
      const pulled = await pulling;
      assert.equal(pulled.chainId, chainIds(image.diffIds).at(-1));
    } finally {
      await front.close();
    }
  });

  test('a layer that does not match its diff id fails the pull naming it, cuts off the downloads and leaves nothing', { timeout: 30_000 }, async () => {
    // The config claims another uncompressed digest for the bottom layer: the unpack refuses it while the
    // layer above is still held by the registry, and the pull must end without waiting for that download.
    const lying = await buildLayout(path.join(work, 'lying'), [{ architecture: 'amd64', layers: busyboxLayers(2, 64 << 10) }], false, { diffIds: (ids) => [`sha256:${'0'.repeat(64)}`, ...ids.slice(1)] });
    await reg.push(lying.dir, 'test/lying', 'v1');
    const held = lying.images[0]!.layerDigests.at(-1)!;
    const front = await RegistryFront.start(reg.host, { holdBlob: held });
    const ns = freshNs();
    try {
      await assert.rejects(pull(`${front.host}/test/lying:v1`, ns, settings({ insecure: [front.host] })), (e: Error) => {
        assert.match(e.message, /does not match diff id sha256:0{64}/);
        assert.ok(e.message.includes(lying.images[0]!.layerDigests[0]!), e.message);
        return true;
      });
      assert.deepEqual(await leftovers(ns), { content: 0, snapshots: 0, images: 0, ingests: 0, leases: 0 });
    } finally {
      await front.close();
    }
  });

  test('a layer with the wrong digest fails the pull at once and leaves no content, snapshot or image', async () => {
    const bad = app.images[0]!.layerDigests[1]!;
    const front = await RegistryFront.start(reg.host, { corruptBlob: bad });
    const ns = freshNs();
    try {
      const ref = `${front.host}/test/app:v1`;
      await assert.rejects(pull(ref, ns, settings({ insecure: [front.host] })), (e: Error) => {
        assert.match(e.message, /failed verification/);
        assert.ok(e.message.includes(ref) && e.message.includes(bad), e.message);
        return true;
      });
      assert.equal(front.seen.filter((r) => r.url.endsWith(bad)).length, 1, 'not retried');
      assert.deepEqual(await leftovers(ns), { content: 0, snapshots: 0, images: 0, ingests: 0, leases: 0 });
    } finally {
      await front.close();
    }
  });
});
