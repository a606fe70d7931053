// The rooms and their doors (docs/architecture.md) checked on the sources: every import from one folder of
// src/ into another must be in that folder's "may import" column of the doc's table, every folder must
// have a row, and no source file outgrows 350 lines. The table is read from the doc itself, so the doc and
// this check cannot drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SRC = path.join(REPO, 'src');
const MAX_LINES = 350;

interface Import {
  file: string; // relative to src/
  from: string; // the importing folder
  to: string; // the imported folder
}

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every relative import between two folders of src/: static, type-only, re-export or dynamic. */
async function crossFolderImports(): Promise<Import[]> {
  const found: Import[] = [];
  for (const file of await sources(SRC)) {
    const text = await readFile(file, 'utf8');
    const from = path.relative(SRC, file).split(path.sep)[0]!;
    for (const m of text.matchAll(/(?:\bfrom|\bimport\(?)\s*'(\.[^']+)'/g)) {
      const to = path.relative(SRC, path.resolve(path.dirname(file), m[1]!)).split(path.sep)[0]!;
      if (to !== from) found.push({ file: path.relative(SRC, file), from, to });
    }
  }
  return found;
}

/** The doc's table: folder → the folders it may import. */
export function parseDoors(markdown: string): Map<string, Set<string>> {
  const doors = new Map<string, Set<string>>();
  for (const line of markdown.split('\n')) {
    const m = /^\| `src\/([a-z-]+)\/` \|[^|]*\| ([^|]*) \|$/.exec(line);
    if (!m) continue;
    const allowed = m[2]!.trim() === '(nothing)' ? [] : m[2]!.split(',').map((s) => s.trim());
    doors.set(m[1]!, new Set(allowed));
  }
  return doors;
}

/** Imports that go through no door: `file → folder`. */
export function violations(imports: readonly Import[], doors: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  return imports
    .filter((i) => !(doors.get(i.from)?.has(i.to) ?? false))
    .map((i) => `src/${i.file} imports src/${i.to}/, which src/${i.from}/ may not (docs/architecture.md)`);
}

async function doors(): Promise<Map<string, Set<string>>> {
  return parseDoors(await readFile(path.join(REPO, 'docs/architecture.md'), 'utf8'));
}

test('every folder of src/ has a row in the architecture table', async () => {
  const table = await doors();
  const folders = (await readdir(SRC, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.ok(table.size >= 10, `the table was read (${table.size} rows)`);
  assert.deepEqual(folders.filter((f) => !table.has(f)), []);
  for (const [folder, allowed] of table) for (const to of allowed) assert.ok(table.has(to), `${folder} may import ${to}, which has no row`);
});

test('every import between folders goes through a door in docs/architecture.md', async () => {
  const imports = await crossFolderImports();
  assert.ok(imports.length > 100, `imports were found (${imports.length})`);
  assert.deepEqual(violations(imports, await doors()), []);
});

test('a deliberately broken import is caught, naming the file', async () => {
  const table = await doors();
  const broken: Import[] = [
    { file: 'supervisor/runner.ts', from: 'supervisor', to: 'containerd' }, // the supervisor speaks to the runtime only
    { file: 'cli/client.ts', from: 'cli', to: 'api' }, // the CLI reaches the server through the wire contract only
    { file: 'ocispec/build.ts', from: 'ocispec', to: 'runtime' }, // spec building is pure
  ];
  assert.deepEqual(violations(broken, table), [
    'src/supervisor/runner.ts imports src/containerd/, which src/supervisor/ may not (docs/architecture.md)',
    'src/cli/client.ts imports src/api/, which src/cli/ may not (docs/architecture.md)',
    'src/ocispec/build.ts imports src/runtime/, which src/ocispec/ may not (docs/architecture.md)',
  ]);
  // And the same imports, where a door exists, pass.
  assert.deepEqual(violations([{ file: 'runtime/x.ts', from: 'runtime', to: 'containerd' }], table), []);
});

test(`no source file in src/ is over ${MAX_LINES} lines`, async () => {
  const long: string[] = [];
  for (const file of await sources(SRC)) {
    const lines = (await readFile(file, 'utf8')).split('\n').length - 1;
    if (lines > MAX_LINES) long.push(`${path.relative(REPO, file)}: ${lines} lines`);
  }
  assert.deepEqual(long, []);
});
