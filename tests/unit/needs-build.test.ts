// `npm start` rebuilds only when a source is newer than the last build (scripts/needs-build).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/needs-build');

function needsBuild(repo: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, repo], (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout.trim() }));
  });
}

test('needs-build: no build → build; nothing newer → skip; a changed source → build, naming it', async () => {
  const repo = await mkdtemp(path.join(os.tmpdir(), 'needs-build-'));
  try {
    await mkdir(path.join(repo, 'src'), { recursive: true });
    await writeFile(path.join(repo, 'src/a.ts'), 'export {};\n');
    await writeFile(path.join(repo, 'package.json'), '{}\n');
    const past = new Date(Date.now() - 60_000);
    await utimes(path.join(repo, 'src/a.ts'), past, past);
    await utimes(path.join(repo, 'package.json'), past, past);
    assert.deepEqual(await needsBuild(repo), { code: 0, out: 'no build yet' });

    await mkdir(path.join(repo, 'dist'));
    await writeFile(path.join(repo, 'dist/.built'), '');
    assert.equal((await needsBuild(repo)).code, 1, 'up to date: no rebuild');

    const future = new Date(Date.now() + 60_000);
    await utimes(path.join(repo, 'src/a.ts'), future, future);
    assert.deepEqual(await needsBuild(repo), { code: 0, out: 'changed since the last build: src/a.ts' });
  } finally {
    await rm(repo, { recursive: true, force: true });
  }
});
