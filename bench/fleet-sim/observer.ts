// The driver's view of the fleet, from etcd: one watch on /berth/<group>/hosts/ keeps each host's last
// record (settings revision applied) and when it arrived. This is what an operator's `fleet status` reads.
import type { Etcd3, Watcher } from 'etcd3';
import { hostsPrefix } from '../../src/fleet/index.js';

export class FleetObserver {
  /** hostId → settings revision in its latest record. */
  readonly revisions = new Map<string, number>();
  /** revision → hostId → when (performance.now()) the host's record first showed it. */
  readonly arrivals = new Map<number, Map<string, number>>();
  private readonly waiters = new Set<() => void>();

  private constructor(private readonly watcher: Watcher) {}

  static async open(client: Etcd3, group: string): Promise<FleetObserver> {
    const prefix = hostsPrefix(group);
    const watcher = await client.watch().prefix(prefix).create();
    const observer = new FleetObserver(watcher);
    watcher.on('put', (kv) => observer.seen(kv.key.toString().slice(prefix.length), kv.value.toString()));
    watcher.on('delete', (kv) => {
      observer.revisions.delete(kv.key.toString().slice(prefix.length));
      observer.changed();
    });
    return observer;
  }

  private seen(hostId: string, text: string): void {
    let revision = 0;
    try {
      revision = Number((JSON.parse(text) as { settingsRevision?: unknown }).settingsRevision) || 0;
    } catch {
      // A record this code did not write: counted as registered, revision 0.
    }
    if (this.revisions.get(hostId) !== revision) {
      let at = this.arrivals.get(revision);
      if (!at) this.arrivals.set(revision, (at = new Map()));
      if (!at.has(hostId)) at.set(hostId, performance.now());
    }
    this.revisions.set(hostId, revision);
    this.changed();
  }

  private changed(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves once `check` holds (tested after every watch event), rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        this.waiters.delete(test);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const test = (): void => {
        if (check()) done();
      };
      const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.summary()})`)), timeoutMs);
      this.waiters.add(test);
      test();
    });
  }

  summary(): string {
    const byRev = new Map<number, number>();
    for (const r of this.revisions.values()) byRev.set(r, (byRev.get(r) ?? 0) + 1);
    return `${this.revisions.size} hosts; by settings revision: ${[...byRev].map(([r, n]) => `${r}: ${n}`).join(', ')}`;
  }

  async close(): Promise<void> {
    await this.watcher.cancel().catch(() => undefined);
  }
}
