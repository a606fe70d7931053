// This host as a member of its fleet: follows the fleet.* settings (joining, moving to another group or
// etcd, leaving), keeps the host record current (written on change: units' health, the fleet settings
// applied, errors; and a heartbeat for "last seen"), applies the group's settings document, and answers
// `fleet status`. The etcd side is ./etcd-session.ts; the rules about documents are ./fleet-document.ts.

import type { Etcd3 } from 'etcd3';
import { fleetFamily, fleetNameProblem, SettingsError, formatIssue, type SettingsStore, type StagedChange } from '../settings/index.js';
import { fleetConfigOf, readMachineId, sameConfig, type FleetConfig } from './config.js';
import { EtcdSession, etcdOptions, readHosts, type FleetLog } from './etcd-session.js';
import { isOverridable, planFleetChanges } from './fleet-document.js';
import { EMPTY_STATE, loadFleetState, saveFleetState, withLocalChange, type FleetLocalState } from './local-state.js';
import type { HealthSummary, HostRecord } from './record.js';
import { RolloutAgent, type RolloutHooks } from './rollout.js';

/** "last seen" is at most this old on a live host: the record is rewritten at least this often. */
export const HEARTBEAT_MS = 60_000;
/** Changes closer together than this make one record write. */
const COALESCE_MS = 100;

export interface FleetMemberOptions {
  readonly store: SettingsStore;
  readonly stateDir: string;
  readonly version: string;
  readonly health: () => HealthSummary;
  readonly log: FleetLog;
  /** The default host id; /etc/machine-id's content unless a test says otherwise. */
  readonly machineId?: () => string | undefined;
}

/** Thrown for `fleet status` on a host in no fleet, and for a bad `--group`. Named for the API's mapping. */
export class FleetValidationError extends Error {
  override readonly name = 'FleetValidationError';
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
  }
}

function message(err: unknown): string {
  if (err instanceof SettingsError) return err.issues.length > 0 ? err.issues.map(formatIssue).join('; ') : err.message;
  return err instanceof Error ? err.message : String(err);
}

export class FleetMember {
  private session: EtcdSession | undefined;
  private config: FleetConfig | undefined;
  private state: FleetLocalState = EMPTY_STATE;
  private lastError = '';
  private lastHealth = '';
  /** The document last seen in etcd, for re-applying it after a local change. */
  private current: { document: string | undefined; revision: number } | undefined;
  private queue: Promise<void> = Promise.resolve();
  private writeTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  /** What the rollout and the reboot coordinator last reported (record fields). */
  private rolloutFields = { state: 'idle', slot: '', error: '' };
  private rolloutHooks: RolloutHooks | undefined;
  private agent: { agent: RolloutAgent; stop: AbortController } | undefined;
  private connectedWaiters: (() => void)[] = [];

  constructor(private readonly opts: FleetMemberOptions) {}

  /** This host's group; undefined while it is in no fleet. */
  get group(): string | undefined {
    return this.config?.group;
  }

  async start(): Promise<void> {
    try {
      this.state = await loadFleetState(this.opts.stateDir);
    } catch (err) {
      // Not a reason to keep berthd (and its units) down: the next applied document writes a good file.
      this.opts.log.warn({ err: message(err) }, 'fleet: state file unreadable; starting without it');
    }
    this.unsubscribe = this.opts.store.onCommit((r) => {
      if (r.changedKeys.some((k) => k.startsWith('fleet.'))) this.serial(() => this.reconfigure());
      // Which keys may stay local changed: what the current document means for this host may have too.
      const current = this.current;
      if (r.changedKeys.includes('fleet.local-overrides') && current) this.serial(() => this.applyDocument(current.document, current.revision, true));
    });
    this.heartbeat = setInterval(() => this.session?.writeRecord(), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.serial(() => this.reconfigure());
    await this.queue;
  }

  /** Runs `task` after every earlier one: configuration changes and document applications never interleave. */
  private serial(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch((err: unknown) => this.opts.log.warn({ err: message(err) }, 'fleet: task failed'));
  }

  private async reconfigure(): Promise<void> {
    if (this.closed) return;
    const result = fleetConfigOf(this.opts.store.family(fleetFamily), this.opts.machineId ?? readMachineId);
    const next = result.kind === 'on' ? result.config : undefined;
    if (result.kind === 'error') this.opts.log.warn({ key: result.key }, `fleet: ${result.key}: ${result.message}`);
    if (sameConfig(next, this.config)) return;
    this.stopAgent();
    // The new configuration holds from here on, before the old session has finished closing: once the record
    // is gone from etcd, `fleet status` must not still answer for the group this host has left.
    const leaving = this.session;
    const leftGroup = this.config?.group;
    this.session = undefined;
    this.config = next;
    this.current = undefined;
    if (leaving) {
      this.opts.log.info({ group: leftGroup }, 'fleet: leaving the group');
      await leaving.close(true);
    }
    if (next) {
      try {
        this.session = await EtcdSession.open(next, {
          record: () => this.record(),
          settings: (document, revision) => this.serial(() => this.applyDocument(document, revision, false)),
          log: this.opts.log,
        });
        this.startAgent();
        for (const wake of this.connectedWaiters.splice(0)) wake();
      } catch (err) {
        // The TLS files could not be read: said now; tried again at the next change of fleet.* settings.
        this.opts.log.warn({ err: message(err) }, 'fleet: cannot connect to etcd; fix the fleet.etcd settings');
      }
    }
  }

  /** The units' health changed (or may have): write the record if its summary did. */
  unitsChanged(): void {
    if (JSON.stringify(this.opts.health()) === this.lastHealth) return;
    this.scheduleWrite();
  }

  private scheduleWrite(): void {
    if (this.writeTimer || !this.session) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = undefined;
      this.session?.writeRecord();
    }, COALESCE_MS);
  }

  private record(): HostRecord {
    const health = this.opts.health();
    this.lastHealth = JSON.stringify(health);
    return {
      hostId: this.config?.hostId ?? '',
      version: this.rolloutHooks?.updater.status().runningVersion ?? this.opts.version,
      updateState: this.rolloutFields.state,
      health,
      slot: this.rolloutFields.slot,
      settingsRevision: this.state.appliedRevision,
      lastError: this.lastError !== '' ? this.lastError : this.rolloutFields.error,
      lastSeen: new Date().toISOString(),
    };
  }

  /**
   * Applies the group's document at `revision` as one settings transaction, or refuses it whole and reports
   * why. `force`: apply even if this revision was applied already (a local change altered what it means).
   */
  private async applyDocument(document: string | undefined, revision: number, force: boolean): Promise<void> {
    if (this.closed) return;
    this.current = { document, revision };
    if (!force && revision === this.state.appliedRevision && this.lastError === '') return;
    const plan = planFleetChanges({
      document,
      overrides: this.opts.store.family(fleetFamily).localOverrides,
      localKeys: this.state.localKeys,
      previousFleetKeys: this.state.fleetKeys,
    });
    let error = plan.ok ? '' : plan.error;
    if (plan.ok) {
      try {
        if (Object.keys(plan.changes).length > 0) await this.opts.store.set(plan.changes);
        this.state = { ...this.state, fleetKeys: plan.fleetKeys, appliedRevision: revision };
        await saveFleetState(this.opts.stateDir, this.state);
      } catch (err) {
        error = message(err);
      }
    }
    this.lastError = error === '' ? '' : `fleet settings revision ${revision} refused: ${error}`;
    if (error === '') this.opts.log.info({ revision }, 'fleet: settings document applied');
    else this.opts.log.warn({ revision, error }, 'fleet: settings document refused; nothing changed');
    this.session?.writeRecord();
  }

  // ---- rolling updates and reboot slots (./rollout.ts, ./reboot-coordinator.ts) ----------------------------

  /** berthd's updater and reboot coordinator: from now on this host takes part in its group's rollouts. */
  attachRollout(hooks: RolloutHooks): void {
    this.rolloutHooks = hooks;
    this.startAgent();
    this.scheduleWrite(); // the record's version is the updater's from now on
  }

  private startAgent(): void {
    if (this.agent || !this.session || !this.rolloutHooks || this.closed) return;
    const stop = new AbortController();
    const agent = new RolloutAgent(this.session.client, this.session.config, this.rolloutHooks, (f) => this.report(f), this.opts.log, stop.signal);
    this.agent = { agent, stop };
    void agent.run();
  }

  private stopAgent(): void {
    this.agent?.stop.abort();
    this.agent = undefined;
  }

  /** The version the group's rollout pins this host to (updates.version-lock gives way to it); undefined: none. */
  get rolloutTarget(): string | undefined {
    return this.agent?.agent.target;
  }

  /** A rollout or reboot-slot change of this host's state: into the record. */
  report(fields: { state?: string; slot?: string; error?: string }): void {
    const next = { ...this.rolloutFields, ...fields };
    if (JSON.stringify(next) === JSON.stringify(this.rolloutFields)) return;
    this.rolloutFields = next;
    this.scheduleWrite();
  }

  /** This host's etcd connection; undefined while it is in no fleet. */
  etcd(): { client: Etcd3; config: FleetConfig } | undefined {
    return this.session ? { client: this.session.client, config: this.session.config } : undefined;
  }

  /** Resolves with the etcd connection once there is one (a boot: berthd may still be joining). */
  async whenConnected(signal?: AbortSignal): Promise<{ client: Etcd3; config: FleetConfig }> {
    for (;;) {
      const now = this.etcd();
      if (now) return now;
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => this.connectedWaiters.push(resolve));
    }
  }

  /** Runs `fn` with an etcd client for `group` (default: this host's), this host's credentials. */
  async withGroup<T>(group: string | undefined, fn: (client: Etcd3, group: string) => Promise<T>): Promise<{ group: string; value: T }> {
    const config = this.config;
    if (!config) throw new FleetValidationError('fleet.etcd.endpoints', 'this host is in no fleet: set fleet.etcd.endpoints and fleet.group');
    const name = group === undefined || group === '' ? config.group : group;
    const problem = fleetNameProblem(name);
    if (problem !== undefined) throw new FleetValidationError('group', `${JSON.stringify(name)}: ${problem}`);
    if (this.session) return { group: name, value: await fn(this.session.client, name) };
    const { Etcd3 } = await import('etcd3');
    const client: Etcd3 = new Etcd3(await etcdOptions(config));
    try {
      return { group: name, value: await fn(client, name) };
    } finally {
      client.close();
    }
  }

  // ---- local changes through the API ---------------------------------------------------------------------

  /**
   * Refuses a local change to a key the fleet's document sets, unless fleet.local-overrides lists it: the
   * operator learns at once that the fleet owns it, instead of seeing the value overwritten later.
   */
  checkLocal(changes: readonly StagedChange[]): FleetValidationError | undefined {
    if (!this.config) return undefined;
    const overrides = this.opts.store.family(fleetFamily).localOverrides;
    const owned = new Set(this.state.fleetKeys);
    for (const c of changes) {
      const keys = c.op === 'set' ? [c.key] : [...owned].filter((k) => k === c.key || k.startsWith(`${c.key}.`));
      const bad = keys.find((k) => owned.has(k) && !isOverridable(k, overrides));
      if (bad !== undefined) {
        return new FleetValidationError(bad, `set by fleet group ${this.config.group}'s settings document (revision ${this.state.appliedRevision}); list it in fleet.local-overrides to set it on this host`);
      }
    }
    return undefined;
  }

  /** Records a committed local change; re-applies the fleet document where an unset gives the key back to it. */
  async recordLocal(changes: readonly StagedChange[]): Promise<void> {
    const localKeys = withLocalChange(this.state.localKeys, changes);
    this.state = { ...this.state, localKeys };
    await saveFleetState(this.opts.stateDir, this.state);
    const current = this.current;
    const returned = changes.some((c) => c.op === 'unset' && this.state.fleetKeys.some((k) => k === c.key || k.startsWith(`${c.key}.`)));
    if (returned && current) this.serial(() => this.applyDocument(current.document, current.revision, true));
  }

  // ---- fleet status --------------------------------------------------------------------------------------

  /** Every host of `group` (default: this host's), read from etcd with this host's credentials. */
  async hosts(group?: string): Promise<HostRecord[]> {
    return (await this.withGroup(group, (client, name) => readHosts(client, name))).value;
  }

  /** berthd is exiting: stop, leaving the record to its lease (see EtcdSession.close). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopAgent();
    this.unsubscribe?.();
    clearInterval(this.heartbeat);
    clearTimeout(this.writeTimer);
    await this.queue;
    await this.session?.close(false);
    this.session = undefined;
  }
}
