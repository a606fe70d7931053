import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  AtomicWriteError,
  readJsonFile,
  removeStaleTempFiles,
  tempFilePrefix,
  writeFileAtomic,
} from '../../src/util/atomic-file.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-atomic-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('writeFileAtomic creates and replaces a file, leaving no temp files', async () => {
  const dir = await tempDir();
  const path = join(dir, 'state.json');
  await writeFileAtomic(path, 'one');
  assert.equal(await readFile(path, 'utf8'), 'one');
  await writeFileAtomic(path, new TextEncoder().encode('two'));
  assert.equal(await readFile(path, 'utf8'), 'two');
  assert.deepEqual(await readdir(dir), ['state.json']);
});

test('writeFileAtomic applies the requested mode', async () => {
  const dir = await tempDir();
  const path = join(dir, 'secret.json');
  await writeFileAtomic(path, '{}', { mode: 0o600 });
  assert.equal((await stat(path)).mode & 0o777, 0o600);
});

test('a failed write reports the step and removes its temp file', async () => {
  const dir = await tempDir();
  const path = join(dir, 'missing-dir', 'state.json');
  await assert.rejects(writeFileAtomic(path, 'x'), (err: unknown) => {
    assert.ok(err instanceof AtomicWriteError);
    assert.equal(err.step, 'write');
    assert.equal(err.replaced, false);
    assert.match(err.message, /ENOENT/);
    return true;
  });
});

test('a failed rename leaves the target untouched and removes the temp file', async () => {
  const dir = await tempDir();
  // A non-empty directory at the target path makes rename(2) fail.
  const path = join(dir, 'state.json');
  await mkdir(path);
  await writeFile(join(path, 'keep'), 'k');
  await assert.rejects(writeFileAtomic(path, 'x'), (err: unknown) => {
    assert.ok(err instanceof AtomicWriteError);
    assert.equal(err.step, 'rename');
    assert.equal(err.replaced, false);
    return true;
  });
  assert.deepEqual(await readdir(dir), ['state.json']);
  assert.equal(await readFile(join(path, 'keep'), 'utf8'), 'k');
});

test('removeStaleTempFiles removes only the temp files of that target', async () => {
  const dir = await tempDir();
  const path = join(dir, 'state.json');
  await writeFile(path, 'committed');
  await writeFile(join(dir, `${tempFilePrefix(path)}123-abc`), 'half');
  await writeFile(join(dir, `${tempFilePrefix(join(dir, 'other.json'))}1-x`), 'other');
  assert.deepEqual(await removeStaleTempFiles(path), [`${tempFilePrefix(path)}123-abc`]);
  assert.deepEqual((await readdir(dir)).sort(), ['.other.json.tmp-1-x', 'state.json']);
  assert.equal(await readFile(path, 'utf8'), 'committed');
  assert.deepEqual(await removeStaleTempFiles(join(dir, 'nope', 'x.json')), []);
});

test('readJsonFile: missing file is undefined, malformed JSON names the file', async () => {
  const dir = await tempDir();
  assert.equal(await readJsonFile(join(dir, 'none.json')), undefined);
  await writeFile(join(dir, 'ok.json'), '{"a":[1]}');
  assert.deepEqual(await readJsonFile(join(dir, 'ok.json')), { a: [1] });
  await writeFile(join(dir, 'bad.json'), '{"a":');
  await assert.rejects(readJsonFile(join(dir, 'bad.json')), /bad\.json: not valid JSON/);
});
