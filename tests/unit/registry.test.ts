// Pure parts of the registry client: references, challenges, retry policy, endpoint selection, progress.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference, apiHost, manifestReference } from '../../src/images/registry/reference.js';
import { mayReceiveCredentials, parseChallenges } from '../../src/images/registry/auth.js';
import { formatDuration, PullWatch } from '../../src/images/registry/watch.js';
import { SharedTasks } from '../../src/util/shared-task.js';
import { parseDuration, durationProblem } from '../../src/settings/values.js';
import { dockerAuthConfig } from '../../src/workloads/docker-images.js';
import { waitFor } from '../support/wait.js';
import { backoffDelay, withRetry } from '../../src/images/registry/retry.js';
import { retryAfterMs, transient, notFound, isTransient } from '../../src/images/registry/errors.js';
import { registryConfig, basicCredentials } from '../../src/images/registry/config.js';
import { ProgressTracker, progressLine, type PullProgress } from '../../src/images/pull-progress.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('references', () => {
  test('Docker Hub short names are normalised', () => {
    const r = parseReference('busybox');
    assert.deepEqual(r, { domain: 'docker.io', repository: 'library/busybox', tag: 'latest', name: 'docker.io/library/busybox:latest' });
    assert.equal(apiHost(r.domain), 'registry-1.docker.io');
    assert.equal(parseReference('user/app:1').name, 'docker.io/user/app:1');
    assert.equal(parseReference('index.docker.io/library/alpine').name, 'docker.io/library/alpine:latest');
  });
  test('registries with ports, localhost, digests', () => {
    const r = parseReference(`127.0.0.1:5000/team/app@${D}`);
    assert.equal(r.domain, '127.0.0.1:5000');
    assert.equal(r.repository, 'team/app');
    assert.equal(r.tag, undefined);
    assert.equal(manifestReference(r), D);
    assert.equal(r.name, `127.0.0.1:5000/team/app@${D}`);
    assert.equal(parseReference('localhost/berth/admin:latest').name, 'localhost/berth/admin:latest');
    assert.equal(parseReference('registry.example.com:8443/a/b/c:v1.2').repository, 'a/b/c');
    assert.equal(manifestReference(parseReference(`r.example/app:1@${D}`)), D);
  });
  test('bad references are validation errors naming the reference', () => {
    for (const bad of ['Upper/Case', 'app@sha256:123', 'app:', 'a//b', '']) {
      assert.throws(() => parseReference(bad), (e: Error & { path?: string }) => e.path === 'ref' && e.message.includes(JSON.stringify(bad)), bad);
    }
  });
});

describe('auth challenges', () => {
  test('bearer with realm, service and scope; basic; several in one header', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="berth-test"'), [{ scheme: 'basic', params: { realm: 'berth-test' } }]);
    const both = parseChallenges(['Basic realm="x"', 'Bearer realm="https://t/token",service="s"']);
    assert.deepEqual(both.map((c) => c.scheme), ['basic', 'bearer']);
    assert.equal(both[1]!.params.service, 's');
    assert.deepEqual(parseChallenges(undefined), []);
  });
  test('credentials: username/password or Docker auth', () => {
    assert.deepEqual(basicCredentials({ auth: Buffer.from('u:p:w').toString('base64') }), { username: 'u', password: 'p:w' });
    assert.deepEqual(basicCredentials({ username: 'a', password: 'b' }), { username: 'a', password: 'b' });
    assert.equal(basicCredentials({ identityToken: 't' }), undefined);
  });
});

describe('retries', () => {
  test('backoff grows exponentially with full jitter and a cap; Retry-After wins', () => {
    const o = { baseMs: 100, maxMs: 1000 };
    assert.equal(backoffDelay(0, { ...o, random: () => 1 }), 100);
    assert.equal(backoffDelay(3, { ...o, random: () => 1 }), 800);
    assert.equal(backoffDelay(10, { ...o, random: () => 1 }), 1000);
    assert.equal(backoffDelay(10, { ...o, random: () => 0 }), 0);
    assert.equal(backoffDelay(2, o, 1500), 1500);
    assert.equal(retryAfterMs('2'), 2000);
    assert.equal(retryAfterMs('3600'), 60_000);
    assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 5_000), 5_000);
    assert.equal(retryAfterMs(undefined), undefined);
  });
  test('transient failures are retried a bounded number of times; permanent ones at once', async () => {
    let n = 0;
    const ok = await withRetry(async () => {
      if (++n < 3) throw transient('503');
      return 'done';
    }, { attempts: 5, baseMs: 1, maxMs: 2 });
    assert.equal(ok, 'done');
    assert.equal(n, 3);
    n = 0;
    await assert.rejects(withRetry(async () => {
      n++;
      throw transient('still 503');
    }, { attempts: 4, baseMs: 1, maxMs: 2 }), /still 503/);
    assert.equal(n, 4);
    n = 0;
    await assert.rejects(withRetry(async () => {
      n++;
      throw notFound('gone');
    }, { attempts: 4, baseMs: 1, maxMs: 2 }), /gone/);
    assert.equal(n, 1);
    assert.ok(isTransient(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })));
    assert.ok(!isTransient(new Error('digest mismatch')));
  });
});

describe('registry settings', () => {
  test('mirrors in order, then the origin; "*" applies to all; plain HTTP only when insecure', () => {
    const cfg = registryConfig({
      mirrors: new Map([['docker.io', ['https://m1.example', 'http://m2.example:5000/v2/']], ['*', ['https://all.example']]]),
      credentials: new Map([['docker.io', { username: 'u', password: 'p' }]]),
      insecure: new Map([['127.0.0.1:5000', true]]),
    });
    assert.deepEqual(cfg.endpoints('docker.io').map((e) => e.base), ['https://m1.example', 'http://m2.example:5000', 'https://registry-1.docker.io']);
    assert.deepEqual(cfg.endpoints('quay.io').map((e) => e.base), ['https://all.example', 'https://quay.io']);
    assert.deepEqual(cfg.endpoints('127.0.0.1:5000').map((e) => e.base), ['https://all.example', 'https://127.0.0.1:5000', 'http://127.0.0.1:5000']);
    assert.equal(cfg.endpoints('quay.io').at(-1)!.skipVerify, false);
    assert.deepEqual(cfg.credentials('registry-1.docker.io'), { username: 'u', password: 'p' });
  });
});

describe('progress', () => {
  test('bytes and layers add up, resumes count from their offset, lines read well', () => {
    const seen: PullProgress[] = [];
    const t = new ProgressTracker('docker.io/library/busybox:latest', (p) => seen.push(p), 0);
    t.setLayers([{ digest: 'a', size: 100 }, { digest: 'b', size: 300 }]);
    t.layerBytes('a', 50);
    t.layerBytes('b', 150);
    assert.deepEqual({ done: t.snapshot().bytesDone, total: t.snapshot().bytesTotal }, { done: 200, total: 400 });
    t.layerDone('a');
    const s = t.snapshot();
    assert.equal(s.layersDone, 1);
    assert.equal(s.bytesDone, 250);
    assert.equal(progressLine(s), 'pulling docker.io/library/busybox:latest: 1/2 layers, 250 B/400 B');
    assert.ok(seen.length >= 4);
  });
});

describe('where registry credentials may go (token realms)', () => {
  const cases: [string, string, boolean, boolean][] = [
    // registry host, realm, registry insecure, credentials sent
    ['reg.example', 'https://auth.example/token', false, true],
    ['reg.example', 'https://reg.example/token', false, true],
    ['reg.example', 'http://auth.example/token', false, false],
    ['reg.example', 'http://auth.example/token', true, false],
    ['reg.example', 'http://reg.example/token', false, false],
    ['127.0.0.1:5000', 'http://127.0.0.1:5000/token', true, true],
    ['127.0.0.1:5000', 'http://127.0.0.1:5001/token', true, false],
    ['127.0.0.1:5000', 'http://127.0.0.2:5000/token', true, false],
    ['reg.example', 'ftp://reg.example/token', true, false],
  ];
  for (const [host, realm, insecure, sent] of cases) {
    test(`${host}${insecure ? ' (insecure)' : ''} → ${realm}: ${sent ? 'sent' : 'withheld'}`, () => {
      assert.equal(mayReceiveCredentials(host, new URL(realm), insecure), sent);
    });
  }
});

describe('pull time limits and durations', () => {
  test('durations as the settings spell them', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1.5s'), undefined);
    assert.match(durationProblem('0s') ?? '', /between/);
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(1_800_000), '30m');
    assert.equal(formatDuration(1500), '1500ms');
  });

  test('a watch with no request in flight never stalls; a caller abort reads as "cancelled"', async () => {
    const caller = new AbortController();
    const w = new PullWatch({ ref: 'r', stallTimeoutMs: 20, signal: caller.signal });
    try {
      // Nothing in flight: ticks pass without a stall (checked by condition, then a few more ticks).
      let ticks = 0;
      await new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (++ticks >= 10) (clearInterval(t), resolve());
        }, 10);
      });
      assert.equal(w.signal.aborted, false);
      caller.abort();
      assert.equal(w.signal.aborted, true);
      assert.match(String((w.explain(new Error('socket hang up')) as Error).message), /pull of r cancelled/);
    } finally {
      w.close();
    }
  });

  test('a request in flight with under 1 KiB for the window is a stall', async () => {
    const w = new PullWatch({ ref: 'r', stallTimeoutMs: 20 });
    try {
      w.begin();
      w.bytes(10);
      // The watch's timers are unref'd (a pull must not keep berthd alive); waitFor's are not.
      await waitFor(() => w.signal.aborted, 5_000, 'the stall');
      assert.match((w.explain(new Error('x')) as Error).message, /pull of r stalled: only 10 bytes in 20ms \(images\.pull-stall-timeout\)/);
    } finally {
      w.close();
    }
  });
});

describe('shared tasks', () => {
  test('one waiter leaving does not cancel the task; the last one does', async () => {
    const tasks = new SharedTasks<string>();
    let release: (v: string) => void = () => undefined;
    let cancelled = false;
    const start = ({ signal }: { signal: AbortSignal }): Promise<string> => new Promise<string>((resolve) => {
      release = resolve;
      signal.addEventListener('abort', () => (cancelled = true));
    });
    const a = new AbortController();
    const b = new AbortController();
    const pa = tasks.run('k', 'job', start, undefined, a.signal);
    const pb = tasks.run('k', 'job', start, undefined, b.signal);
    a.abort();
    await assert.rejects(pa, /job cancelled/);
    assert.equal(cancelled, false);
    release('done');
    assert.equal(await pb, 'done');

    const c = new AbortController();
    const pc = tasks.run('k2', 'job', start, undefined, c.signal);
    await new Promise((r) => setImmediate(r));
    c.abort();
    await assert.rejects(pc, /job cancelled/);
    assert.equal(cancelled, true);
  });
});

describe('Docker authconfig from the settings', () => {
  test('username/password, Docker-style auth, identity token', () => {
    assert.deepEqual(dockerAuthConfig({ username: 'u', password: 'p' }, 'r.example'), { username: 'u', password: 'p', serveraddress: 'r.example' });
    assert.deepEqual(dockerAuthConfig({ auth: Buffer.from('u:p').toString('base64') }, 'r.example'), { username: 'u', password: 'p', serveraddress: 'r.example' });
    assert.deepEqual(dockerAuthConfig({ identityToken: 't' }, 'r.example'), { identitytoken: 't', serveraddress: 'r.example' });
    assert.equal(dockerAuthConfig(undefined, 'r.example'), undefined);
  });
});
