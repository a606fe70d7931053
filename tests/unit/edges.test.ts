// The rooms' doors (docs/architecture.md, "Rooms and their doors"), checked on the sources: an import that
// runs back up the layers fails here, naming the file and what it imports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every relative import (static, re-export or dynamic) of `room`, as `file → room/of/target`. */
async function importsOf(room: string): Promise<Array<{ file: string; target: string }>> {
  const found: Array<{ file: string; target: string }> = [];
  for (const file of await sources(path.join(SRC, room))) {
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
      const target = path.relative(SRC, path.resolve(path.dirname(file), m[1]!));
      found.push({ file: path.relative(SRC, file), target });
    }
  }
  return found;
}

const roomOf = (target: string): string => target.split(path.sep)[0]!;

function check(imports: Array<{ file: string; target: string }>, never: readonly string[]): string[] {
  return imports.filter((i) => never.includes(roomOf(i.target))).map((i) => `${i.file} → ${i.target}`);
}

test('the CLI reaches the daemon only through the wire contract', async () => {
  assert.deepEqual(check(await importsOf('cli'), ['api', 'supervisor', 'daemon', 'workloads', 'runtime', 'containerd', 'images']), []);
});

test('the wire contract imports nothing of the server side', async () => {
  assert.deepEqual(check(await importsOf('wire'), ['api', 'cli', 'supervisor', 'daemon', 'workloads', 'runtime', 'containerd', 'images', 'settings']), []);
});

test('the runtime imports neither the supervisor nor the workloads', async () => {
  assert.deepEqual(check(await importsOf('runtime'), ['supervisor', 'workloads', 'api', 'daemon', 'cli']), []);
});

test('the workloads import neither the API nor the daemon', async () => {
  assert.deepEqual(check(await importsOf('workloads'), ['api', 'daemon', 'cli', 'wire']), []);
});

test('containerd/ and spec/ know nothing above them', async () => {
  assert.deepEqual(check(await importsOf('containerd'), ['images', 'runtime', 'supervisor', 'workloads', 'api', 'daemon', 'settings', 'units', 'spec']), []);
  assert.deepEqual(check(await importsOf('spec'), ['runtime', 'supervisor', 'workloads', 'api', 'daemon', 'images', 'containerd']), []);
});
