// What an idle berthd holds in memory starts with what its start-up loads. Packages only some hosts use
// (etcd3 for fleets, tuf-js for updates) are imported on first use; this walks the static import graph of
// the compiled daemon, as Node loads it, and fails if one of them comes back into it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST_SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const STATIC = /^\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

/** Packages reached by static imports from `entry` (a compiled module under dist/src), with one path to each. */
function staticPackages(entry: string): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  const seen = new Set<string>();
  const walk = (file: string, trail: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const here = [...trail, path.relative(DIST_SRC, file)];
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec), here);
      else if (!spec.startsWith('node:')) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!packages.has(name)) packages.set(name, [...here, spec]);
      }
    }
  };
  walk(path.join(DIST_SRC, entry), []);
  return packages;
}

test('berthd does not load etcd3 or tuf-js at start-up (only a fleet member or an update check does)', () => {
  const loaded = staticPackages('daemon/main.js');
  // The walk itself works: packages every berthd needs are found.
  for (const needed of ['@grpc/grpc-js', 'protobufjs', 'pino']) assert.ok(loaded.has(needed), `${needed} not found: the walk is broken`);
  for (const lazy of ['etcd3', 'tuf-js', '@tufjs/models']) {
    assert.equal(loaded.get(lazy), undefined, `${lazy} is imported at start-up through ${loaded.get(lazy)?.join(' → ')}`);
  }
});
