// One connection of this host to its fleet's etcd: the lease-backed host record and the watch on the
// group's settings document. A session lives while the fleet.* settings stay the same; ./member.ts makes a
// new one when they change.
//
// Liveness is etcd's lease: the record is put under a lease of LEASE_TTL_S seconds that the client keeps
// alive (a keepalive every TTL/3). A host that dies stops the keepalives and its record disappears when the
// lease expires. A lease lost to an outage longer than the TTL is granted anew and the record put again;
// nothing else (no unit) is touched.

import { readFile } from 'node:fs/promises';
import type { Etcd3, IOptions, Lease, Watcher } from 'etcd3';
import { onAbort } from '../util/abort.js';
import { hostKey, hostsPrefix, settingsKey, type FleetConfig } from './config.js';
import { decodeRecord, encodeRecord, type HostRecord } from './record.js';

export const LEASE_TTL_S = 10;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;
/** Deadline of one unary call; streams (watch, keepalive) have none. */
const CALL_DEADLINE_MS = 5_000;

export interface FleetLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SessionHooks {
  /** The record to write now. */
  record(): HostRecord;
  /** The settings document changed (undefined: deleted or absent) at `revision`. */
  settings(document: string | undefined, revision: number): void;
  log: FleetLog;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function etcdOptions(config: FleetConfig): Promise<IOptions> {
  const options: IOptions = {
    hosts: [...config.endpoints],
    dialTimeout: CALL_DEADLINE_MS,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
  };
  if (config.tls) {
    const [rootCertificate, certChain, privateKey] = await Promise.all([readFile(config.tls.ca), readFile(config.tls.cert), readFile(config.tls.key)]);
    options.credentials = { rootCertificate, certChain, privateKey };
  }
  return options;
}

/** The records of every host in `group`, sorted by host id. */
export async function readHosts(client: Etcd3, group: string): Promise<HostRecord[]> {
  const prefix = hostsPrefix(group);
  const all = await client.getAll().prefix(prefix).strings();
  return Object.entries(all)
    .map(([key, text]) => decodeRecord(key.slice(prefix.length), text))
    .sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
}

export class EtcdSession {
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private readonly stop = new AbortController();
  private writing: Promise<void> = Promise.resolve();
  private writeAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(readonly config: FleetConfig, readonly client: Etcd3, private readonly hooks: SessionHooks) {}

  static async open(config: FleetConfig, hooks: SessionHooks): Promise<EtcdSession> {
    // etcd3 (its gRPC stubs and parsed protos, ~5 MB of heap) is loaded only by a host that joins a fleet.
    const { Etcd3 } = await import('etcd3');
    const session = new EtcdSession(config, new Etcd3(await etcdOptions(config)), hooks);
    void session.register();
    void session.watchSettings();
    return session;
  }

  private get closed(): boolean {
    return this.stop.signal.aborted;
  }

  /** Waits `ms`, or less if the session ends. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const stopListening = onAbort(this.stop.signal, done);
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        stopListening();
        resolve();
      }
    });
  }

  /** Grant a lease and put the record under it, retrying (with backoff) until it works or the session ends. */
  private async register(): Promise<void> {
    let delay = RETRY_MIN_MS;
    while (!this.closed) {
      const lease = this.client.lease(LEASE_TTL_S, { autoKeepAlive: true });
      lease.on('lost', (err) => {
        if (this.lease !== lease || this.closed) return;
        this.lease = undefined;
        this.hooks.log.warn({ err: message(err) }, 'fleet: lease lost; registering again');
        void this.register();
      });
      try {
        await lease.grant();
        if (this.closed) {
          await lease.revoke().catch(() => undefined);
          return;
        }
        this.lease = lease;
        await lease.put(hostKey(this.config.group, this.config.hostId)).value(encodeRecord(this.hooks.record()));
        this.hooks.log.info({ group: this.config.group, hostId: this.config.hostId, lease: await lease.grant() }, 'fleet: registered');
        return;
      } catch (err) {
        if (this.lease === lease) this.lease = undefined;
        lease.release();
        this.hooks.log.warn({ err: message(err), retryMs: delay }, 'fleet: cannot register with etcd; retrying');
        await this.pause(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Write the record again (after a change); writes are serialized and coalesced, failures retried. */
  writeRecord(): void {
    if (this.closed) return;
    if (this.writeAgain) return;
    this.writeAgain = true;
    this.writing = this.writing.then(async () => {
      this.writeAgain = false;
      const lease = this.lease;
      // Without a lease, register() writes the record as soon as it has one.
      if (!lease || this.closed) return;
      try {
        await lease.put(hostKey(this.config.group, this.config.hostId)).value(encodeRecord(this.hooks.record()));
      } catch (err) {
        this.hooks.log.warn({ err: message(err) }, 'fleet: record write failed; retrying');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.writeRecord(), RETRY_MAX_MS);
        this.retryTimer.unref();
      }
    });
  }

  /** Read the document once, then watch it from the next revision; start over after a watch error. */
  private async watchSettings(): Promise<void> {
    const key = settingsKey(this.config.group);
    let delay = RETRY_MIN_MS;
    while (!this.closed) {
      try {
        const res = await this.client.get(key).exec();
        const kv = res.kvs[0];
        this.hooks.settings(kv?.value.toString('utf8'), kv ? Number(kv.mod_revision) : 0);
        const watcher = await this.client.watch().key(key).startRevision(String(Number(res.header.revision) + 1)).create();
        if (this.closed) {
          await watcher.cancel();
          return;
        }
        this.watcher = watcher;
        watcher.on('put', (kv) => this.hooks.settings(kv.value.toString('utf8'), Number(kv.mod_revision)));
        watcher.on('delete', (kv) => this.hooks.settings(undefined, Number(kv.mod_revision)));
        const failed = await new Promise<unknown>((resolve) => {
          const stopListening = onAbort(this.stop.signal, () => resolve(undefined));
          watcher.once('error', (err) => {
            stopListening();
            resolve(err);
          });
        });
        await watcher.cancel().catch(() => undefined);
        if (this.closed) return;
        this.hooks.log.warn({ err: message(failed) }, 'fleet: settings watch failed; watching again');
        delay = RETRY_MIN_MS;
      } catch (err) {
        this.hooks.log.warn({ err: message(err), retryMs: delay }, 'fleet: cannot read the fleet settings; retrying');
        await this.pause(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /**
   * Ends the session. `deregister`: revoke the lease, which deletes the record at once (the fleet settings
   * were turned off or changed). Otherwise (berthd exiting) the record stays until its lease expires, so a
   * restart of berthd does not make the host flap out of the fleet.
   */
  async close(deregister: boolean): Promise<void> {
    this.stop.abort();
    clearTimeout(this.retryTimer);
    await this.writing.catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    if (lease && deregister) {
      await lease.revoke().catch((err: unknown) => this.hooks.log.warn({ err: message(err) }, 'fleet: lease revoke failed; the record goes when it expires'));
    } else {
      lease?.release();
    }
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }

  async hosts(group: string): Promise<HostRecord[]> {
    return readHosts(this.client, group);
  }
}
