// The updater against a real repository: built by berth-repo, served on 127.0.0.1 by a plain static file
// server (and once over file://). Every refusal names what was wrong and never reaches the installer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateKey, saveKey } from '../../src/repo/keys.js';
import { refresh } from '../../src/repo/repository.js';
import { UpdateError } from '../../src/updates/errors.js';
import { fakeBuild, mustRepo, publish, serveStatic, type FakeBuild } from '../support/update-repo.js';
import { testHost } from '../support/update-host.js';

async function repoWith(t: { after: (fn: () => Promise<void>) => void }, versions: string[]): Promise<{ dir: string; repo: string; builds: Map<string, FakeBuild> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-updates-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  const builds = new Map<string, FakeBuild>();
  for (const v of versions) {
    const b = await fakeBuild(dir, v);
    builds.set(v, b);
    await publish(repo, b);
  }
  return { dir, repo, builds };
}

/** The message is also printed (test diagnostics), so a run shows what an operator would read. */
async function refused(p: Promise<unknown>, kind: string, re: RegExp, t?: { diagnostic: (m: string) => void }): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof UpdateError, `expected an UpdateError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, re);
  t?.diagnostic(`refused (${kind}): ${err.message}`);
  return err.message;
}

test('happy path: check finds 2.0.0, apply hands the installer the verified files, cancel steps back', async (t) => {
  const { dir, repo, builds } = await repoWith(t, ['1.0.0', '2.0.0']);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater, installer } = await testHost({ dir, repo, server, version: '1.0.0' });
  assert.equal(updater.status().state, 'idle');

  const checked = await updater.check();
  assert.equal(checked.state, 'available');
  assert.equal(checked.chosenVersion, '2.0.0');
  assert.deepEqual(checked.availableVersions, ['2.0.0']);
  assert.ok(server.requests.includes('/metadata/timestamp.json'));

  const { status, finished } = await updater.apply();
  assert.equal(status.operation?.kind, 'apply', 'apply returns at once with its operation running');
  await finished;
  const done = updater.status();
  assert.equal(done.state, 'ready');
  assert.equal(done.stagedVersion, '2.0.0');
  assert.equal(done.operation, undefined);
  assert.equal(installer.installs.length, 1);
  const call = installer.installs[0]!;
  const b = builds.get('2.0.0')!;
  assert.equal(call.plan.version, '2.0.0');
  assert.equal(call.plan.rootHash, b.rootHash);
  assert.equal(call.plan.hashOffset, b.hashOffset);
  const sha = async (f: string): Promise<string> => (await import('node:crypto')).createHash('sha256').update(await readFile(f)).digest('hex');
  assert.deepEqual(call.sha256, { rootImage: await sha(b.rootImage), kernel: await sha(b.kernel), initramfs: await sha(b.initramfs) });
  assert.ok(server.requests.some((r) => /^\/targets\/[0-9a-f]{64}\.metal-x86_64-2\.0\.0-root\.img$/.test(r)), 'targets fetched by content address');

  await refused(updater.apply(), 'state', /2\.0\.0 is already ready: it boots next/, t);
  assert.equal((await updater.cancel()).state, 'staged');
  assert.equal(installer.deactivations, 1);
  assert.equal((await updater.cancel()).state, 'available');
  assert.equal((await updater.cancel()).state, 'idle');
  await refused(updater.cancel(), 'state', /nothing to cancel/, t);
});

test('one operation at a time: a second is refused naming the running one; cancel stops it', async (t) => {
  const { dir, repo } = await repoWith(t, ['2.0.0']);
  const { updater, installer } = await testHost({ dir, repo, version: '1.0.0' }); // file:// repository
  await updater.check();
  installer.hold();
  const { finished } = await updater.apply();
  await installer.started;
  await refused(updater.check(), 'busy', /^update apply of 2\.0\.0 is running \(since .*, write 0\/1\); one update operation at a time/, t);
  await refused(updater.apply(), 'busy', /update apply of 2\.0\.0 is running/, t);
  const after = await updater.cancel();
  assert.ok(installer.installs[0]!.signal.aborted, 'the installer was told to stop');
  await refused(finished, 'cancelled', /update apply was cancelled/, t);
  assert.equal(after.state, 'staged', 'downloaded and verified, not installed');
  assert.equal(after.lastError?.message, 'update apply was cancelled');
  // And a later apply succeeds from where it stopped.
  installer.release();
  await (await updater.apply()).finished;
  assert.equal(updater.status().state, 'ready');
});

test('refused: expired timestamp', async (t) => {
  const { dir, repo } = await repoWith(t, ['2.0.0']);
  await refresh(repo, { now: new Date(Date.now() - 3 * 3_600_000), expiresMs: 3_600_000 });
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater, installer } = await testHost({ dir, repo, server, version: '1.0.0' });
  await refused(updater.check(), 'repository', /refused timestamp\.json: timestamp\.json is expired/, t);
  assert.equal(updater.status().state, 'idle');
  assert.match(updater.status().lastError?.message ?? '', /expired/);
  await refused(updater.apply(), 'state', /nothing to apply/, t);
  assert.equal(installer.installs.length, 0);
});

test('refused: timestamp signed with a key the root does not trust', async (t) => {
  const { dir, repo } = await repoWith(t, ['2.0.0']);
  await saveKey(repo, 'timestamp', generateKey());
  await mustRepo(['refresh', repo]);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater, installer } = await testHost({ dir, repo, server, version: '1.0.0' });
  await refused(updater.check(), 'repository', /refused timestamp\.json: timestamp was signed by 0\/1 keys \(not signed by enough keys the trusted root names for it\)/, t);
  assert.equal(installer.installs.length, 0);
});

test('refused: metadata going backwards (rollback to an older timestamp)', async (t) => {
  const { dir, repo } = await repoWith(t, ['2.0.0']);
  const old = path.join(dir, 'old-metadata');
  await cp(path.join(repo, 'metadata'), old, { recursive: true });
  await mustRepo(['refresh', repo]);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater, installer } = await testHost({ dir, repo, server, version: '1.0.0' });
  assert.equal((await updater.check()).state, 'available');
  // A mirror (or an attacker) now serves the previous, validly signed timestamp.
  await rm(path.join(repo, 'metadata'), { recursive: true });
  await cp(old, path.join(repo, 'metadata'), { recursive: true });
  await refused(updater.check(), 'repository', /refused timestamp\.json: New timestamp version 2 is less than current version 3 \(rollback: older metadata than this host has already seen\)/, t);
  assert.equal(installer.installs.length, 0);
});

test('refused: a target whose bytes do not match the signed hash; nothing installed', async (t) => {
  const { dir, repo } = await repoWith(t, ['2.0.0']);
  const targets = path.join(repo, 'targets');
  const root = (await readdir(targets)).find((f) => f.endsWith('.metal-x86_64-2.0.0-root.img'))!;
  const bytes = await readFile(path.join(targets, root));
  bytes[1000] = bytes[1000]! ^ 0xff; // same length, one byte flipped
  await writeFile(path.join(targets, root), bytes);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater, installer } = await testHost({ dir, repo, server, version: '1.0.0' });
  assert.equal((await updater.check()).state, 'available');
  const { finished } = await updater.apply();
  await refused(finished, 'repository', /target metal-x86_64-2\.0\.0-root\.img refused: its bytes do not match the signed sha256: Expected hash/, t);
  assert.equal(installer.installs.length, 0);
  assert.equal(updater.status().state, 'available');
});

test('refused: a downgrade not pinned by version-lock; taken when pinned', async (t) => {
  const { dir, repo } = await repoWith(t, ['1.0.0']);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater, installer, settings } = await testHost({ dir, repo, server, version: '2.0.0' });
  const s = await updater.check();
  assert.equal(s.state, 'idle');
  assert.match(s.lastCheckReason ?? '', /newest version for variant metal is 1\.0\.0, older than the running 2\.0\.0: a downgrade is taken only when updates\.version-lock names it/);
  await refused(updater.apply(), 'state', /nothing to apply: no update is available \(.*downgrade is taken only when updates\.version-lock names it\)/, t);
  assert.equal(installer.installs.length, 0);
  settings.versionLock = '1.0.0';
  assert.equal((await updater.check()).chosenVersion, '1.0.0');
  await (await updater.apply()).finished;
  assert.equal(installer.installs[0]?.plan.version, '1.0.0');
});

test('settings: an unset repository URL is refused naming the key', async (t) => {
  const { dir, repo } = await repoWith(t, []);
  const { updater } = await testHost({ dir, repo, version: '1.0.0', settings: { metadataBaseUrl: undefined } });
  await refused(updater.check(), 'config', /^updates\.metadata-base-url is not set/, t);
});

test('refused: mix-and-match (a snapshot naming targets that are not the ones served)', async (t) => {
  const { dir, repo } = await repoWith(t, ['2.0.0', '3.0.0']);
  // targets 3 (with 3.0.0) replaced by the validly signed targets 2 (without it): signatures fine, snapshot not.
  const md = path.join(repo, 'metadata');
  await writeFile(path.join(md, '3.targets.json'), await readFile(path.join(md, '2.targets.json')));
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater, installer } = await testHost({ dir, repo, server, version: '1.0.0' });
  await refused(updater.check(), 'repository', /refused 3\.targets\.json: its length does not match the signed length/, t);
  assert.equal(installer.installs.length, 0);
});

test('rotate-root: a host trusting root 1 follows the rotation to root 2 and keeps updating', async (t) => {
  const { dir, repo, builds } = await repoWith(t, ['2.0.0']);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { updater } = await testHost({ dir, repo, server, version: '1.0.0' });
  assert.equal((await updater.check()).chosenVersion, '2.0.0');
  await mustRepo(['rotate-root', repo]);
  const b = await fakeBuild(dir, '3.0.0');
  builds.set('3.0.0', b);
  await publish(repo, b);
  assert.equal((await updater.check()).chosenVersion, '3.0.0');
  assert.ok(server.requests.includes('/metadata/2.root.json'), 'the new root was fetched');
  assert.ok(server.requests.includes('/metadata/3.root.json'), 'and the next one looked for');
});

test('download progress counts bytes over every target, ending at the total', async (t) => {
  const { dir, repo, builds } = await repoWith(t, []);
  const b = await fakeBuild(dir, '2.0.0', 4 * 1024 * 1024);
  builds.set('2.0.0', b);
  await publish(repo, b);
  const server = await serveStatic(repo);
  t.after(() => server.close());
  const { UpdateRepository } = await import('../../src/updates/repository.js');
  const r = new UpdateRepository({
    metadataBaseUrl: `${server.url}/metadata`, targetsBaseUrl: `${server.url}/targets`,
    trustedRootFile: path.join(repo, 'metadata/1.root.json'), cacheDir: path.join(dir, 'cache'),
  });
  const manifest = await r.manifest();
  const seen: Array<[number, number]> = [];
  const files = await r.download(manifest.updates[0]!, path.join(dir, 'dl'), (done, total) => seen.push([done, total]));
  const total = seen[0]![1];
  assert.ok(total > 4 * 1024 * 1024);
  assert.deepEqual(seen.at(-1), [total, total]);
  assert.ok(seen.some(([d]) => d > 0 && d < 4 * 1024 * 1024), 'progress inside the root image, not only per file');
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0], 'never backwards');
  assert.equal((await readFile(files.rootImage)).length, 4 * 1024 * 1024);
  // A second download finds the verified files and fetches nothing again (resume per file).
  const before = server.requests.filter((p) => p.startsWith('/targets/')).length;
  await r.download(manifest.updates[0]!, path.join(dir, 'dl'), () => undefined);
  assert.equal(server.requests.filter((p) => p.startsWith('/targets/')).length, before);
});
