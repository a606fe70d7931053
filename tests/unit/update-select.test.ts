// Wave arithmetic and version choice: pure functions, so every boundary is checked exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readyAt, waveReady } from '../../src/updates/waves.js';
import { selectUpdate } from '../../src/updates/select.js';
import type { Manifest, ManifestUpdate, Wave } from '../../src/updates/manifest.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const H = 3_600_000;
const at = (ms: number): string => new Date(ms).toISOString();

test('waves: a host counts from its wave\'s first seed, spread evenly to the next wave\'s start', () => {
  const waves: Wave[] = [
    { seed: 0, start: at(T0) },
    { seed: 100, start: at(T0 + 100 * H) },
    { seed: 1024, start: at(T0 + 200 * H) },
  ];
  assert.equal(readyAt(waves, 0), T0);
  assert.equal(readyAt(waves, 50), T0 + 50 * H, 'halfway through wave 0 → halfway to wave 1\'s start');
  assert.equal(readyAt(waves, 99), T0 + 99 * H);
  assert.equal(readyAt(waves, 100), T0 + 100 * H, 'a wave\'s first seed starts with its wave');
  // Wave 1 spans seeds 100…1023 over 100 h: seed 562 is exactly halfway (462/924).
  assert.equal(readyAt(waves, 562), T0 + 150 * H);
  // Counted from the wave's first seed, not from seed 0: Bottlerocket's absolute offset would put seed 1023
  // at start + 1023 × (100 h / 924) ≈ 210 h, after the next wave has started.
  assert.ok(readyAt(waves, 1023)! < T0 + 200 * H);
  assert.equal(readyAt(waves, 1024), T0 + 200 * H, 'the last wave: all its seeds at its start');
  assert.equal(readyAt(waves, 2047), T0 + 200 * H);
  assert.equal(readyAt([], 7), undefined, 'no waves: at once');
  // Waves given out of order are the same waves.
  assert.equal(readyAt([...waves].reverse(), 562), T0 + 150 * H);
  // Seeds below a first wave that starts later than 0 go with the first wave.
  assert.equal(readyAt([{ seed: 10, start: at(T0) }, { seed: 20, start: at(T0 + H) }], 3), T0);
  assert.equal(waveReady(waves, 562, T0 + 150 * H), true);
  assert.equal(waveReady(waves, 562, T0 + 150 * H - 1), false);
  // Monotonic: a higher seed is never ready before a lower one.
  let last = -Infinity;
  for (let s = 0; s < 2048; s++) {
    const r = readyAt(waves, s)!;
    assert.ok(r >= last, `seed ${s}`);
    last = r;
  }
});

function update(version: string, extra: Partial<ManifestUpdate> = {}): ManifestUpdate {
  return {
    variant: 'metal', arch: 'x86_64', version, images: { root: `r${version}`, kernel: `k${version}`, initramfs: `i${version}` },
    rootHash: 'a'.repeat(64), hashOffset: 4096, waves: [], migrations: [], ...extra,
  };
}
const manifest = (...updates: ManifestUpdate[]): Manifest => ({ schema: 1, updates });
const host = { variant: 'metal', arch: 'x86_64', version: '2.0.0' };
const latest = { versionLock: 'latest', ignoreWaves: false, seed: 500, now: T0 };

test('selection: newest allowed version for this variant; downgrades only when pinned; waves respected', () => {
  const m = manifest(update('1.0.0'), update('2.0.0'), update('2.1.0'), update('3.0.0'), update('9.0.0', { variant: 'other' }), update('8.0.0', { arch: 'aarch64' }));
  const s = selectUpdate(m, host, latest);
  assert.equal(s.chosen?.version, '3.0.0');
  assert.deepEqual(s.available.map((u) => u.version), ['3.0.0', '2.1.0']);

  const older = selectUpdate(manifest(update('1.0.0')), host, latest);
  assert.equal(older.chosen, undefined);
  assert.match(older.reason!, /newest version for variant metal is 1\.0\.0, older than the running 2\.0\.0: a downgrade is taken only when updates\.version-lock names it/);

  assert.equal(selectUpdate(m, host, { ...latest, versionLock: '1.0.0' }).chosen?.version, '1.0.0', 'pinned: a downgrade');
  assert.equal(selectUpdate(m, host, { ...latest, versionLock: '2.1.0' }).chosen?.version, '2.1.0', 'pinned: not the newest');
  assert.match(selectUpdate(m, host, { ...latest, versionLock: '2.0.0' }).reason!, /running the pinned version 2\.0\.0/);
  assert.match(selectUpdate(m, host, { ...latest, versionLock: '7.0.0' }).reason!, /version-lock is 7\.0\.0, which the repository does not have/);
  assert.match(selectUpdate(manifest(update('2.0.0')), host, latest).reason!, /running the newest version/);
  assert.match(selectUpdate(manifest(update('9.0.0', { variant: 'x' })), host, latest).reason!, /no versions for variant metal/);

  const waves: Wave[] = [{ seed: 0, start: at(T0 - H) }, { seed: 1000, start: at(T0 + H) }];
  const staged = manifest(update('2.5.0'), update('3.0.0', { waves }));
  // Seed 500 is ready at T0 (halfway): at T0 - 1 ms only 2.5.0 (no waves) may be taken.
  assert.equal(selectUpdate(staged, host, { ...latest, now: T0 - 1 }).chosen?.version, '2.5.0');
  assert.equal(selectUpdate(staged, host, { ...latest, now: T0 }).chosen?.version, '3.0.0');
  assert.equal(selectUpdate(staged, host, { ...latest, now: T0 - 1, ignoreWaves: true }).chosen?.version, '3.0.0');
  const waiting = selectUpdate(manifest(update('3.0.0', { waves })), host, { ...latest, now: T0 - 1 });
  assert.equal(waiting.chosen, undefined);
  assert.match(waiting.reason!, /3\.0\.0 reaches this host's wave \(seed 500\) at 2026-01-01T00:00:00\.000Z/);
  // Versions compare numerically, not as text.
  assert.equal(selectUpdate(manifest(update('2.10.0'), update('2.9.0')), host, latest).chosen?.version, '2.10.0');
});

test('selection: the chosen version carries the migrations of every version it skips, oldest first', () => {
  const m = manifest(
    update('1.0.0', { migrations: ['m1'] }), update('2.0.0', { migrations: ['m2'] }), update('2.1.0', { migrations: ['m21a', 'm21b'] }),
    update('3.0.0', { migrations: ['m3'] }), update('3.0.0', { variant: 'other', migrations: ['x'] }),
  );
  assert.deepEqual(selectUpdate(m, host, latest).chosen?.migrations, ['m21a', 'm21b', 'm3'], 'not the running version\'s, nor another variant\'s');
  assert.deepEqual(selectUpdate(m, host, { ...latest, versionLock: '2.1.0' }).chosen?.migrations, ['m21a', 'm21b']);
  // A pinned downgrade runs none forward: the older version undoes the kept ones at its start.
  assert.deepEqual(selectUpdate(m, host, { ...latest, versionLock: '1.0.0' }).chosen?.migrations, []);
});
