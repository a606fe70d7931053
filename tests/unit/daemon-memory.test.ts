import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactAfterStartup } from '../../src/daemon/memory.js';

test('once settled, berthd asks V8 for one memory-reducing major collection (when --expose-gc gave it gc)', (t) => {
  const calls: unknown[] = [];
  const g = globalThis as { gc?: unknown };
  const original = g.gc;
  t.after(() => {
    g.gc = original;
  });
  g.gc = (options: unknown) => calls.push(options);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  compactAfterStartup(500);
  t.mock.timers.tick(499);
  assert.deepEqual(calls, [], 'not before the delay: READY must not wait for a collection');
  t.mock.timers.tick(1);
  assert.deepEqual(calls, [{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);

  delete g.gc;
  assert.doesNotThrow(() => compactAfterStartup(1)); // without --expose-gc: nothing to do, no error
});

test('bin/berthd starts Node with --expose-gc, so the compaction is not a no-op on a real host', async () => {
  const { readFile } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  for (const launcher of ['bin/berthd', 'image/files/berthd-wrapper']) {
    assert.match(await readFile(root + launcher, 'utf8'), /^exec .*node .*--expose-gc .*daemon\/main\.js/m, launcher);
  }
});
