// berth-repo: the layout a static server can serve, keys kept 0600 outside it, signed metadata that verifies
// with @tufjs/models, and bad flags refused naming the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Metadata, MetadataKind } from '@tufjs/models';
import { berthRepo, fakeBuild, mustRepo, publish } from '../support/update-repo.js';
import { parseManifest } from '../../src/updates/manifest.js';

async function json(file: string): Promise<Parameters<typeof Metadata.fromJSON>[1]> {
  return JSON.parse(await readFile(file, 'utf8')) as Parameters<typeof Metadata.fromJSON>[1];
}

test('berth-repo init/add/refresh/rotate-root: layout, 0600 keys, signatures that verify, manifest', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-repo-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
    assert.equal((await stat(path.join(repo, 'keys', `${role}.json`))).mode & 0o777, 0o600, `${role} key is 0600`);
  }
  assert.equal((await berthRepo(['init', repo])).stderr.trim(), `berth-repo: ${repo}: already a repository (metadata/1.root.json exists)`);

  const b = await fakeBuild(dir, '1.0.0');
  await publish(repo, b, ['--wave', '0@0s', '--wave', '1024@1d']);
  const root = Metadata.fromJSON(MetadataKind.Root, await json(path.join(repo, 'metadata/1.root.json')));
  const ts = Metadata.fromJSON(MetadataKind.Timestamp, await json(path.join(repo, 'metadata/timestamp.json')));
  root.verifyDelegate('timestamp', ts);
  root.verifyDelegate('root', root);
  assert.equal(ts.signed.version, 2, 'init published timestamp 1, add timestamp 2');
  const targets = Metadata.fromJSON(MetadataKind.Targets, await json(path.join(repo, 'metadata/2.targets.json')));
  root.verifyDelegate('targets', targets);
  const names = Object.keys(targets.signed.targets).sort();
  assert.deepEqual(names, ['manifest.json', 'metal-x86_64-1.0.0-initramfs.img', 'metal-x86_64-1.0.0-root.img', 'metal-x86_64-1.0.0-vmlinuz']);
  const files = await readdir(path.join(repo, 'targets'));
  for (const n of names) {
    const sha = targets.signed.targets[n]!.hashes['sha256'];
    assert.ok(files.includes(`${sha}.${n}`), `target ${n} stored under its content address`);
  }
  assert.ok(files.every((f) => /^[0-9a-f]{64}\./.test(f)), `only content-addressed files in targets/: ${files.join(' ')}`);
  const manifestSha = targets.signed.targets['manifest.json']!.hashes['sha256'];
  const manifest = parseManifest(await readFile(path.join(repo, 'targets', `${manifestSha}.manifest.json`), 'utf8'));
  assert.equal(manifest.updates.length, 1);
  const u = manifest.updates[0]!;
  assert.deepEqual([u.variant, u.arch, u.version, u.rootHash, u.hashOffset], ['metal', 'x86_64', '1.0.0', b.rootHash, b.hashOffset]);
  assert.deepEqual(u.waves.map((w) => w.seed), [0, 1024]);
  assert.equal(Date.parse(u.waves[1]!.start) - Date.parse(u.waves[0]!.start), 86_400_000);

  assert.match(await mustRepo(['refresh', repo, '--expires', '2d']), /timestamp version 3/);
  assert.match(await mustRepo(['rotate-root', repo]), /root version 2/);
  const root2 = Metadata.fromJSON(MetadataKind.Root, await json(path.join(repo, 'metadata/2.root.json')));
  root.verifyDelegate('root', root2); // the old root's key signed it
  root2.verifyDelegate('root', root2); // and so did the new one
  assert.notDeepEqual(root2.signed.roles['root']!.keyIDs, root.signed.roles['root']!.keyIDs);
  assert.equal((await stat(path.join(repo, 'keys/root.v1.json'))).mode & 0o777, 0o600, 'the retired root key is kept, 0600');
});

test('berth-repo: bad input is refused naming the flag, and nothing is published', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-repo-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  const b = await fakeBuild(dir, '1.0.0');
  const good = ['--version', '1.0.0', '--variant', 'metal', '--root-image', b.rootImage, '--root-hash', b.rootHash,
    '--hash-offset', String(b.hashOffset), '--kernel', b.kernel, '--initramfs', b.initramfs];
  const set = (flag: string, value: string): string[] => {
    const out = [...good];
    const i = out.indexOf(flag);
    if (i >= 0) out[i + 1] = value;
    else out.push(flag, value);
    return out;
  };
  const cases: Array<[string[], RegExp]> = [
    [set('--version', '1.0'), /^berth-repo: --version: expected a version MAJOR\.MINOR\.PATCH/],
    [set('--variant', 'Metal!'), /^berth-repo: --variant: /],
    [set('--root-hash', 'abc'), /^berth-repo: --root-hash: expected the 64-character/],
    [set('--hash-offset', '100'), /^berth-repo: --hash-offset: .*multiple of 512/],
    [set('--kernel', path.join(dir, 'missing')), /^berth-repo: --kernel: .*missing: no such file/],
    [set('--wave', '5@1h'), /^berth-repo: --wave: the first wave must start at seed 0/],
    [set('--wave', '0@soon'), /^berth-repo: --wave: expected a duration/],
    [set('--wave', '4096@1h'), /^berth-repo: --wave: expected SEED@DURATION with SEED 0…2047/],
    [set('--arch', 'mips'), /^berth-repo: --arch: expected x86_64 or aarch64/],
    [set('--expires', '0d'), /^berth-repo: --expires: /],
    [good.filter((_, i) => i < 2 || i > 3), /^berth-repo: --variant: required/],
  ];
  for (const [args, expected] of cases) {
    const r = await berthRepo(['add', repo, ...args]);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, expected);
  }
  const ts = JSON.parse(await readFile(path.join(repo, 'metadata/timestamp.json'), 'utf8')) as { signed: { version: number } };
  assert.equal(ts.signed.version, 1, 'no bad add published anything');
  assert.match((await berthRepo(['refresh', path.join(dir, 'nowhere')])).stderr, /does not exist \(is this a berth-repo directory/);
});
