import { allocateMcs } from '../ocispec/index.js';

/**
 * MCS category pairs in use on this host, by owner (unit or workload name): each owner keeps its pair for
 * as long as it exists, and no two owners ever share one.
 */
export class McsRegistry {
  private readonly byOwner = new Map<string, [number, number]>();

  /** The owner's pair, allocating a fresh unique one the first time. */
  pairFor(owner: string): [number, number] {
    let pair = this.byOwner.get(owner);
    if (!pair) {
      pair = allocateMcs(this.byOwner.values(), Math.random);
      this.byOwner.set(owner, pair);
    }
    return pair;
  }

  /** Record a pair already in use (persisted, or read back from a running container's labels). */
  reserve(owner: string, pair: [number, number]): boolean {
    const [a, b] = pair[0] < pair[1] ? pair : [pair[1], pair[0]];
    for (const [o, [x, y]] of this.byOwner) if (o !== owner && x === a && y === b) return false;
    this.byOwner.set(owner, [a, b]);
    return true;
  }

  release(owner: string): void {
    this.byOwner.delete(owner);
  }
}
