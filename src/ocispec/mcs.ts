// MCS category allocation for workloads: each workload gets a distinct
// unordered pair of categories from c0..c1023, so MCS rules keep workloads
// out of each other's files.

export const MCS_CATEGORIES = 1024;
const PAIRS = (MCS_CATEGORIES * (MCS_CATEGORIES - 1)) / 2;
const RANDOM_TRIES = 64;

function key(a: number, b: number): number {
  return Math.min(a, b) * MCS_CATEGORIES + Math.max(a, b);
}

/** k-th pair (i < j) in lexicographic order, k in [0, PAIRS). */
function pairAt(k: number): [number, number] {
  let i = 0;
  let remaining = k;
  while (remaining >= MCS_CATEGORIES - 1 - i) {
    remaining -= MCS_CATEGORIES - 1 - i;
    i += 1;
  }
  return [i, i + 1 + remaining];
}

function pick(random: () => number, n: number): number {
  const r = random();
  // Clamp: a sloppy random source must not produce an out-of-range category.
  const x = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1 - Number.EPSILON) : 0;
  return Math.floor(x * n);
}

/**
 * A pair [x, y] with x < y not in `used` (order inside used pairs ignored).
 * Random first; a full scan from a random start once the space is crowded.
 * Throws RangeError only when all 523,776 pairs are taken.
 */
export function allocateMcs(used: Iterable<[number, number]>, random: () => number): [number, number] {
  const taken = new Set<number>();
  for (const [a, b] of used) taken.add(key(a, b));
  for (let t = 0; t < RANDOM_TRIES; t += 1) {
    const a = pick(random, MCS_CATEGORIES);
    const b = pick(random, MCS_CATEGORIES);
    if (a !== b && !taken.has(key(a, b))) return [Math.min(a, b), Math.max(a, b)];
  }
  let [a, b] = pairAt(pick(random, PAIRS));
  for (let n = 0; n < PAIRS; n += 1) {
    if (!taken.has(key(a, b))) return [a, b];
    // Next pair in lexicographic order, wrapping to [0, 1].
    b += 1;
    if (b === MCS_CATEGORIES) {
      a = a + 1 === MCS_CATEGORIES - 1 ? 0 : a + 1;
      b = a + 1;
    }
  }
  throw new RangeError('all MCS category pairs are in use');
}
