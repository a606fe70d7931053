// Staged rollouts: when a host with a given seed may take a version. A version's waves are (first seed,
// start time) pairs, seeds ascending; wave i holds seeds [seed_i, seed_{i+1}) and spreads them evenly over
// [start_i, start_{i+1}). Unlike Bottlerocket (which offsets a host by its absolute seed, so high seeds of a
// wave wait past its end) a host's place counts from its wave's first seed. The last wave has no end: all
// its seeds may update at its start.

import { SEED_COUNT, type Wave } from './manifest.js';

/** Milliseconds since the epoch from which `seed` may update; undefined when there are no waves (at once). */
export function readyAt(waves: readonly Wave[], seed: number): number | undefined {
  if (waves.length === 0) return undefined;
  const sorted = [...waves].sort((a, b) => a.seed - b.seed);
  // A seed before the first wave (a repository that starts at seed > 0) goes with the first wave's start.
  let i = 0;
  while (i + 1 < sorted.length && sorted[i + 1]!.seed <= seed) i++;
  const wave = sorted[i]!;
  const start = Date.parse(wave.start);
  const next = sorted[i + 1];
  if (!next || seed <= wave.seed) return start;
  const end = Date.parse(next.start);
  const span = next.seed - wave.seed;
  // Integer milliseconds, rounded down: the first seed starts at the wave's start, the last just before the next.
  return start + Math.floor(((end - start) * (seed - wave.seed)) / span);
}

export function waveReady(waves: readonly Wave[], seed: number, now: number): boolean {
  const at = readyAt(waves, seed);
  return at === undefined || at <= now;
}

export function checkSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed >= SEED_COUNT) throw new Error(`updates.seed: expected 0…${SEED_COUNT - 1}, got ${seed}`);
}
