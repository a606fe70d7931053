// Pulling from a hostile registry (tests/support/hostile-registry.ts, served by this test on 127.0.0.1):
// sizes are limits, not hints (endless and oversized blobs and manifests, absurd descriptors); a pull has a
// stall timeout and a deadline (small settings values here, never sleeps); cancelling a pull closes its
// connection, and a shared pull survives one waiter leaving; credentials never go to a plain-HTTP token
// realm on another host; and through berthd, disabling a unit whose pull hangs takes it out of `preparing`.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { HostileRegistry, type Behaviour } from '../support/hostile-registry.js';
import { waitUnit } from '../support/units.js';
import { waitFor, withDeadline } from '../support/wait.js';
import { pullImage, type PullOptions } from '../../src/images/pull.js';
import { registryConfig, type RegistrySettings } from '../../src/images/registry/config.js';
import { ImageService } from '../../src/images/image-service.js';
import { BerthClient } from '../../src/cli/client.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { policyOf, type PolicySettings, type RegistryCredentials } from '../../src/settings/index.js';

let ctd: TestContainerd;
let cc: ContainerdClient;
let reg: HostileRegistry;
let work: string;
let nsCounter = 0;
const LAYER = 256 << 10;
/** Loopback socket buffers let a sender get a few MiB ahead of a reader that stopped; far below the 256 MiB an unbounded read takes. */
const SOCKET_SLACK = 32 << 20;

const freshNs = (): string => `hostile-${process.pid}-${++nsCounter}`;

function settings(credentials: Record<string, RegistryCredentials> = {}): RegistrySettings {
  return { mirrors: new Map(), credentials: new Map(Object.entries(credentials)), insecure: new Map([[reg.host, true]]) };
}

function pull(b: Behaviour, extra: Partial<PullOptions> = {}, creds: Record<string, RegistryCredentials> = {}): ReturnType<typeof pullImage> {
  return pullImage(cc, reg.ref(b), { namespace: extra.namespace ?? freshNs(), registry: registryConfig(settings(creds)), retry: { baseMs: 10, maxMs: 50 }, ...extra });
}

/** A pull that must fail: the error, within a deadline (a pull that hangs fails the test instead of stalling the suite). */
async function failure(p: Promise<unknown>, what: string): Promise<Error> {
  try {
    await withDeadline(p, 60_000, what);
  } catch (e) {
    if (e instanceof Error && !/timed out after 60000 ms waiting/.test(e.message)) return e;
    throw e;
  }
  assert.fail(`${what}: the pull succeeded`);
}

function policy(over: Partial<PolicySettings['images']> = {}): () => PolicySettings {
  const p: PolicySettings = {
    selinuxMode: 'auto',
    containerRegistry: settings(),
    workloads: { runtime: 'containerd', hostPathAllowList: [], allowedCapabilities: [], requireMemoryLimit: false },
    images: { ...policyOf(new Map()).images, pullPolicy: 'if-not-present', maxUnpackedSize: 8 * 1024 ** 3, ...over },
  };
  return () => p;
}

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bhostile-'));
  ctd = await TestContainerd.start();
  cc = ctd.client('berth-hostile');
  reg = await HostileRegistry.start({ tickMs: 100, layerBytes: LAYER });
});

after(async () => {
  cc?.close();
  await reg?.close();
  await ctd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('sizes are limits, not hints', () => {
  test('the good image pulls (the server is a working registry for well-behaved repositories)', async () => {
    const pulled = await pull('ok');
    assert.equal(pulled.name, reg.ref('ok'));
  });

  test('an endless blob is cut off at its descriptor size: clear error, connection closed, the ingest never passes the size', async () => {
    const ns = freshNs();
    const { size } = reg.layerOf('endless-blob');
    // Watch containerd's ingest while the pull runs: its offset must never pass the descriptor's size.
    let maxOffset = 0;
    let watching = true;
    const sampler = (async () => {
      while (watching) {
        for (const i of await cc.listIngests([], { namespace: ns }).catch(() => [])) maxOffset = Math.max(maxOffset, Number(i.offset));
        await new Promise((r) => setImmediate(r));
      }
    })();
    const e = await failure(pull('endless-blob', { namespace: ns }), 'endless blob');
    watching = false;
    await sampler;
    assert.match(e.message, /layer sha256:[0-9a-f]{64} from 127\.0\.0\.1:\d+ is larger than its descriptor says \(\d+ bytes\)/);
    assert.ok(maxOffset <= size, `ingest reached ${maxOffset} bytes, descriptor says ${size}`);
    const get = reg.requestsFor('endless-blob').find((r) => r.url.includes('/blobs/') && r.url.endsWith(reg.layerOf('endless-blob').digest))!;
    await waitFor(() => get.closedEarly, 10_000, 'the endless blob connection to be closed by the client');
    assert.ok(get.bytesSent < size + SOCKET_SLACK, `server got to send ${get.bytesSent} bytes of a ${size}-byte blob`);
    assert.equal((await cc.listIngests([], { namespace: ns })).length, 0, 'no ingest left');
    assert.equal((await cc.listContent([], { namespace: ns })).length, 0, 'no content left');
  });

  test('a descriptor claiming 1e15 bytes is refused before anything is downloaded', async () => {
    const e = await failure(pull('huge-descriptor'), 'huge descriptor');
    assert.match(e.message, /layer sha256:[0-9a-f]{64} claims 1000000000000000 bytes, over the \d+-byte limit/);
    assert.equal(reg.requestsFor('huge-descriptor').filter((r) => r.url.endsWith(reg.layerOf('huge-descriptor').digest)).length, 0, 'the layer was never requested');
  });

  test('an endless manifest is refused at its descriptor size (by digest) or at the 4 MiB cap (by tag); a manifest claiming 1e15 bytes is refused', async () => {
    const byDigest = await failure(pull('endless-manifest'), 'endless manifest');
    assert.match(byDigest.message, /manifest sha256:[0-9a-f]{64} from 127\.0\.0\.1:\d+ is larger than its descriptor says/);
    const byTag = await failure(pull('endless-manifest-by-tag'), 'endless manifest by tag');
    assert.match(byTag.message, /manifest from 127\.0\.0\.1:\d+ is larger than the 4194304-byte limit/);
    for (const b of ['endless-manifest', 'endless-manifest-by-tag'] as const) {
      for (const r of reg.requestsFor(b).filter((x) => x.method === 'GET')) {
        await waitFor(() => r.closedEarly || r.ended, 10_000, `${b}: the connection to be closed`);
        assert.ok(r.bytesSent < (4 << 20) + SOCKET_SLACK, `${b}: server sent ${r.bytesSent} bytes`);
      }
    }
    const huge = await failure(pull('huge-manifest'), 'huge manifest');
    assert.match(huge.message, /says the manifest is 1000000000000000 bytes, over the 4194304-byte limit/);
  });

  test('a blob whose bytes do not match its digest fails the pull and leaves nothing behind', async () => {
    const ns = freshNs();
    const e = await failure(pull('wrong-digest', { namespace: ns }), 'wrong digest');
    assert.match(e.message, /failed verification/);
    assert.equal((await cc.listIngests([], { namespace: ns })).length, 0);
  });
});

describe('time limits', () => {
  test('a blob dripping a byte per tick trips the stall timeout, and its connection is closed', async () => {
    const e = await failure(pull('drip-blob', { stallTimeoutMs: 1000 }), 'drip blob');
    assert.match(e.message, new RegExp(`pull of ${reg.ref('drip-blob').replace(/[.]/g, '\\.')} stalled: only \\d+ bytes in 1s \\(images\\.pull-stall-timeout\\)`));
    const get = reg.requestsFor('drip-blob').find((r) => r.url.endsWith(reg.layerOf('drip-blob').digest))!;
    await waitFor(() => get.closedEarly, 10_000, 'the dripping connection to be closed');
  });

  test('a dripping manifest trips the stall timeout too', async () => {
    const e = await failure(pull('drip-manifest', { stallTimeoutMs: 1000 }), 'drip manifest');
    assert.match(e.message, /stalled: (only \d+ bytes in|no bytes for) 1s/);
  });

  test('a blob too slow to stall (4 KiB per tick) still ends at the overall deadline', async () => {
    const e = await failure(pull('slow-blob', { timeoutMs: 1500, stallTimeoutMs: 60_000 }), 'slow blob');
    assert.match(e.message, /pull of .*hostile\/slow-blob:v1 timed out after 1500ms \(images\.pull-timeout\)/);
    const get = reg.requestsFor('slow-blob').find((r) => r.url.endsWith(reg.layerOf('slow-blob').digest))!;
    await waitFor(() => get.closedEarly, 10_000, 'the slow connection to be closed');
  });
});

describe('cancelling', () => {
  test('aborting a pull whose blob hangs closes its HTTP connection at once', async () => {
    const ac = new AbortController();
    const before = reg.requestsFor('hang-blob').length;
    const p = pull('hang-blob', { signal: ac.signal });
    await waitFor(() => reg.requestsFor('hang-blob').slice(before).some((r) => r.url.endsWith(reg.layerOf('hang-blob').digest)), 20_000, 'the hanging blob request');
    ac.abort();
    const e = await failure(p, 'cancelled pull');
    assert.match(e.message, /cancelled|aborted/i);
    const get = reg.requestsFor('hang-blob').slice(before).find((r) => r.url.endsWith(reg.layerOf('hang-blob').digest))!;
    await waitFor(() => get.closedEarly, 10_000, 'the hanging connection to be closed');
  });

  test('a shared pull: one waiter leaving does not break the other; the last one leaving cancels it', async () => {
    const images = new ImageService(cc, freshNs(), path.join(work, 'cache'), policy());
    const ref = reg.ref('gate-blob');
    const a = new AbortController();
    const b = new AbortController();
    const pa = images.ensure(ref, undefined, a.signal);
    const pb = images.ensure(ref, undefined, b.signal);
    pa.catch(() => undefined);
    const blob = (): ReturnType<HostileRegistry['requestsFor']> => reg.requestsFor('gate-blob').filter((r) => r.url.endsWith(reg.layerOf('gate-blob').digest));
    await waitFor(() => blob().length > 0, 20_000, 'the gated blob request');
    a.abort();
    await assert.rejects(pa, /pull of .* cancelled/);
    assert.equal(blob()[0]!.closedEarly, false, 'the shared pull goes on for the other waiter');
    reg.openGate();
    const got = await withDeadline(pb, 30_000, 'the remaining waiter');
    assert.ok(got.snapshotParent.startsWith('sha256:'));

    const solo = new AbortController();
    const hangs = (): ReturnType<HostileRegistry['requestsFor']> => reg.requestsFor('hang-blob').filter((r) => r.url.endsWith(reg.layerOf('hang-blob').digest));
    const already = hangs().length;
    const ps = images.ensure(reg.ref('hang-blob'), undefined, solo.signal);
    await waitFor(() => hangs().length > already, 20_000, 'the hanging blob request');
    solo.abort();
    await assert.rejects(ps, /cancelled/);
    await waitFor(() => hangs()[already]!.closedEarly, 10_000, 'the last waiter leaving to close the connection');
  });
});

describe('registry credentials only go where they belong', () => {
  const creds = (): Record<string, RegistryCredentials> => ({ [reg.host]: { username: 'robot', password: 'hunter2' } });

  test('a token realm on another host over plain HTTP never receives the registry credentials', async () => {
    const e = await failure(pull('cross-host-realm', {}, creds()), 'cross-host realm');
    assert.ok(reg.realmSeen.length > 0, 'the realm was asked (anonymously)');
    assert.deepEqual(reg.realmSeen.filter((r) => r.authorization), [], 'no Authorization header reached the other host');
    assert.match(e.message, /credentials for 127\.0\.0\.1:\d+ were not sent to token realm http:\/\/127\.0\.0\.2:\d+/);
  });

  test('the insecure registry\'s own realm over HTTP (same host) does get them', async () => {
    await pull('same-host-realm', {}, creds());
    const expected = `Basic ${Buffer.from('robot:hunter2').toString('base64')}`;
    assert.ok(reg.tokenRequests.length > 0 && reg.tokenRequests.every((r) => r.authorization === expected), JSON.stringify(reg.tokenRequests));
  });
});

describe('through berthd', () => {
  test('disabling a unit whose pull hangs closes the connection and the unit leaves preparing; a small stall setting fails a dripping pull', async () => {
    const b = await TestBerthd.create({ containerd: ctd });
    await writeFile(b.settingsDefaults, `[settings.selinux]
mode = "auto"
[settings.container-registry.insecure]
"${reg.host}" = true
`);
    const client = BerthClient.connect({ socketPath: b.socket });
    try {
      const already = reg.requestsFor('hang-blob').length;
      // Added once berthd is up: READY waits for the first reconcile, which a hanging pull would hold up.
      await b.start();
      await client.settings.set({ 'host-containers.hang.source': reg.ref('hang-blob'), 'host-containers.hang.enabled': 'true' });
      const hanging = (): ReturnType<HostileRegistry['requestsFor']> => reg.requestsFor('hang-blob').slice(already).filter((r) => r.url.endsWith(reg.layerOf('hang-blob').digest));
      await waitUnit(client, 'hang', (u) => u.state === 'preparing', 30_000, 'hang preparing');
      await waitFor(() => hanging().length > 0, 30_000, 'berthd to request the hanging blob');
      await client.settings.set({ 'host-containers.hang.enabled': 'false' });
      const u = await waitUnit(client, 'hang', (s) => s.state !== 'preparing', 10_000, 'hang to leave preparing');
      assert.equal(u.state, 'stopped');
      await waitFor(() => hanging().every((r) => r.closedEarly), 10_000, 'the pull connection to be closed');

      // images.pull-stall-timeout is read per pull: a small value fails a dripping pull with the stall message.
      await client.settings.set({
        'images.pull-stall-timeout': '1s',
        'host-containers.drip.source': reg.ref('drip-blob'),
        'host-containers.drip.enabled': 'true',
      });
      const d = await waitUnit(client, 'drip', (s) => /stalled/.test(s.lastError ?? ''), 30_000, 'drip to fail as stalled');
      assert.match(d.lastError ?? '', /stalled: only \d+ bytes in 1s \(images\.pull-stall-timeout\)/);
      await client.settings.set({ 'host-containers.drip.enabled': 'false' });
      await waitUnit(client, 'drip', (s) => s.state === 'stopped', 20_000, 'drip stopped');
    } finally {
      client.close();
      await b.stop();
    }
  });
});
