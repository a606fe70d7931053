// The reboot gate of a fleet host (updates.reboot-strategy; the interface is src/updates/reboot-gate.ts):
//   before an update reboot: take a slot of the group's semaphore in etcd (./slot-client.ts) or a FleetLock
//     server's lock (./fleetlock.ts), and remember it on disk (./pending-reboot.ts);
//   after the next start (berthd up on the new version, units running): give it back; a host that came back
//     on another version (rolled back) or whose units do not come up keeps it and marks itself failed, which
//     halts the group's rollout until `berthctl fleet resume`.
// `immediate` asks nobody, except for the reboots of a fleet rollout (./rollout.ts), which always take a slot.
// An operator's or brupop's reboot waits for its slot (or lock) only as long as its caller said: then it is
// refused, naming the hosts that hold the slots, with nothing taken; a rollout's waits until it is cancelled.

import type { Etcd3 } from 'etcd3';
import { fleetFamily, type SettingsStore } from '../settings/index.js';
import { updatesFamily } from '../settings/families/updates.js';
import type { FleetConfig } from './config.js';
import type { FleetLog } from './etcd-session.js';
import { FleetLockWaitExpired, fleetLockCall, fleetLockUntilOk, type FleetLockClient } from './fleetlock.js';
import { clearPendingReboot, loadPendingReboot, savePendingReboot, type PendingReboot } from './pending-reboot.js';
import type { HealthSummary } from './record.js';
import { slotKey } from './reboot-slots.js';
import { acquireSlot, failSlot, readSlots, releaseSlot, SlotWaitExpired } from './slot-client.js';

/**
 * A reboot the settings do not allow yet (a strategy without what it needs): FAILED_PRECONDITION over the API
 * (the `code` the API reads), naming the setting, rather than an internal error.
 */
export class RebootRefusedError extends Error {
  override readonly name = 'RebootRefusedError';
  readonly code = 9;
}

/**
 * No reboot slot (or FleetLock lock) within the caller's wait: RESOURCE_EXHAUSTED over the API (the group's
 * slots are used up for now; berth-apiclient answers 423, which brupop retries). Nothing was taken.
 */
export class RebootSlotUnavailableError extends Error {
  override readonly name = 'RebootSlotUnavailableError';
  readonly code = 8;
}

/** How long the refusal may spend reading who holds the slots (etcd may be what made the wait fail). */
const HOLDERS_READ_MS = 3_000;
/** A failed reboot command marks the slot failed in etcd within this long, or leaves it to the next start. */
const FAIL_SLOT_MS = 30_000;

/** How long units may take to be running after a reboot before the boot counts as failed. */
export const BOOT_CHECK_MS = 120_000;
const HEALTH_POLL_MS = 250;

export interface RebootPlanLike {
  readonly from: string;
  readonly to: string | undefined;
}

/** src/updates/reboot-gate.ts's RebootWait (this folder does not import that one). */
export interface RebootWaitLike {
  readonly signal?: AbortSignal;
  /** Undefined: wait until `signal` aborts (a rollout); a number: refuse after that long (an operator's call). */
  readonly maxWaitMs?: number;
  /** A fleet rollout's reboot: a slot of the group's semaphore whatever updates.reboot-strategy says. */
  readonly rollout?: boolean;
}

const seconds = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`);

/** What the coordinator needs of the fleet member: its etcd connection and a place to report. */
export interface CoordinatorFleet {
  /** The member's etcd client and config; undefined while the host is in no fleet. */
  etcd(): { client: Etcd3; config: FleetConfig } | undefined;
  /** Waits until the member has an etcd connection (after a boot it may take a moment). */
  whenConnected(signal?: AbortSignal): Promise<{ client: Etcd3; config: FleetConfig }>;
  report(fields: { state?: string; slot?: string; error?: string }): void;
}

export interface CoordinatorOptions {
  readonly store: SettingsStore;
  readonly stateDir: string;
  readonly fleet: CoordinatorFleet;
  readonly health: () => HealthSummary;
  readonly log: FleetLog;
  readonly machineId: () => string | undefined;
  readonly bootCheckMs?: number;
}

export class RebootCoordinator {
  /** A slot is being taken now (granted in etcd, maybe not yet remembered on disk). */
  acquiring = false;

  constructor(private readonly o: CoordinatorOptions) {}

  /** RebootGate.beforeReboot: what updates.reboot-strategy says (see the file comment). */
  async beforeReboot(plan: RebootPlanLike, wait: RebootWaitLike = {}): Promise<void> {
    const strategy = this.o.store.family(updatesFamily).rebootStrategy;
    if (strategy === 'fleetlock') return this.lockFleetLock(plan, wait);
    if (strategy === 'etcd' || wait.rollout) return this.takeSlot(plan, wait);
  }

  /** Takes (or already holds) a slot of the group's semaphore; resolves when held. */
  private async takeSlot(plan: RebootPlanLike, wait: RebootWaitLike): Promise<void> {
    const etcd = this.o.fleet.etcd();
    if (!etcd) throw new RebootRefusedError('updates.reboot-strategy = etcd needs a fleet: set fleet.etcd.endpoints and fleet.group');
    const { client, config } = etcd;
    const pending: PendingReboot = { strategy: 'etcd', group: config.group, hostId: config.hostId, from: plan.from, to: plan.to ?? '', since: new Date().toISOString() };
    const slot = slotKey(config.group, config.hostId);
    this.o.fleet.report({ state: 'waiting-for-slot' });
    this.acquiring = true;
    try {
      const got = await acquireSlot(client, config.group, config.hostId, {
        hostMax: () => this.o.store.family(fleetFamily).maxConcurrentReboots,
        slot: { from: pending.from, to: pending.to, since: pending.since },
        ...(wait.signal ? { signal: wait.signal } : {}),
        ...(wait.maxWaitMs !== undefined ? { maxWaitMs: wait.maxWaitMs } : {}),
        waiting: (reason) => {
          this.o.log.info({ reason }, 'fleet: waiting for a reboot slot');
          this.o.fleet.report({ state: 'waiting-for-slot', error: `waiting for a reboot slot: ${reason}` });
        },
      });
      // Granted while the caller went away (an operator's Ctrl-C, berthd leaving the group): given back. A slot
      // held from before (a reboot whose command failed) stays: it marks the group's halt.
      if (wait.signal?.aborted && got === 'granted') await releaseSlot(client, config.group, config.hostId, AbortSignal.timeout(HOLDERS_READ_MS)).catch(() => undefined);
      wait.signal?.throwIfAborted();
      await savePendingReboot(this.o.stateDir, pending);
    } catch (err) {
      const refusal = err instanceof SlotWaitExpired ? await this.noSlot(client, config.group, err.reason, wait.maxWaitMs ?? 0) : undefined;
      const why = refusal ? `reboot refused: ${refusal.message}` : wait.signal?.aborted ? '' : `reboot: ${err instanceof Error ? err.message : String(err)}`;
      this.o.fleet.report({ state: 'idle', error: why });
      if (refusal) this.o.log.warn({ group: config.group }, `fleet: ${why}`);
      throw refusal ?? err;
    } finally {
      this.acquiring = false;
    }
    this.o.log.info({ group: config.group, slot }, 'fleet: reboot slot taken');
    this.o.fleet.report({ state: 'rebooting', slot, error: '' });
  }

  /** The refusal after a wait without a slot: why, and who holds the slots now (read from etcd, bounded). */
  private async noSlot(client: Etcd3, group: string, reason: string, waitedMs: number): Promise<RebootSlotUnavailableError> {
    const slots = await Promise.race([
      readSlots(client, group),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), HOLDERS_READ_MS).unref()),
    ]).catch(() => undefined);
    const held = slots === undefined
      ? 'unknown (etcd did not answer)'
      : slots.size === 0 ? 'none' : [...slots].map(([host, v]) => `${host} (${v.to ? `${v.from} → ${v.to}` : `reboot of ${v.from}`} since ${v.since}${v.failed ? `, failed: ${v.failed}` : ''})`).join(', ');
    return new RebootSlotUnavailableError(
      `no reboot slot is free for this host in fleet group ${group} after waiting ${seconds(waitedMs)}: ${reason}; slots held by: ${held}; nothing was taken (this host holds no slot and waits for none)`,
    );
  }

  /**
   * RebootGate.rebootFailed: the command failed, the host did not go down. It keeps what it took and marks
   * itself failed (the group's rollout halts until `fleet resume`), as after a failed boot.
   */
  async rebootFailed(plan: RebootPlanLike, reason: string): Promise<void> {
    const pending = await loadPendingReboot(this.o.stateDir);
    if (!pending || pending.failed !== undefined) return;
    this.o.log.warn({ reason }, 'fleet: the reboot command failed; keeping the reboot slot, the group\'s rollout halts');
    await savePendingReboot(this.o.stateDir, { ...pending, failed: reason });
    const etcd = pending.strategy === 'etcd' ? this.o.fleet.etcd() : undefined;
    if (etcd) {
      await failSlot(etcd.client, pending.group, pending.hostId, { from: plan.from, to: pending.to, since: pending.since }, reason, AbortSignal.timeout(FAIL_SLOT_MS))
        .catch((e: unknown) => this.o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'fleet: could not mark the slot failed in etcd'));
    }
    this.o.fleet.report({ state: 'failed', slot: this.slotName(pending), error: reason });
  }

  private fleetLockClient(url: string): FleetLockClient {
    const fleet = this.o.store.family(fleetFamily);
    const id = fleet.hostId ?? this.o.machineId() ?? '';
    if (id === '') throw new RebootRefusedError('updates.reboot-strategy = fleetlock needs fleet.host-id (or /etc/machine-id) to name this host');
    // FleetLock's default group, as Zincati's.
    return { url, id, group: fleet.group ?? 'default' };
  }

  private async lockFleetLock(plan: RebootPlanLike, wait: RebootWaitLike): Promise<void> {
    const url = this.o.store.family(updatesFamily).fleetlockUrl;
    if (!url) throw new RebootRefusedError('updates.fleetlock-url: not set (updates.reboot-strategy = fleetlock)');
    const c = this.fleetLockClient(url);
    this.o.fleet.report({ state: 'waiting-for-slot' });
    try {
      await fleetLockUntilOk(c, 'pre-reboot', {
        ...(wait.signal ? { signal: wait.signal } : {}),
        ...(wait.maxWaitMs !== undefined ? { maxWaitMs: wait.maxWaitMs } : {}),
        waiting: (reason) => this.o.log.info({ reason }, 'fleet: FleetLock server says not yet'),
      });
      if (wait.signal?.aborted) await fleetLockCall(c, 'steady-state'); // granted while the caller went away
      wait.signal?.throwIfAborted();
    } catch (err) {
      // An answer lost on the way may have been a grant: steady-state gives back what this host may hold.
      if (err instanceof FleetLockWaitExpired && err.lost) await fleetLockCall(c, 'steady-state');
      const refusal = err instanceof FleetLockWaitExpired
        ? new RebootSlotUnavailableError(`the FleetLock server at ${url} granted no reboot lock to ${c.id} in group ${c.group} after waiting ${seconds(wait.maxWaitMs ?? 0)}: ${err.reason}; nothing was taken (this host holds no lock and waits for none)`)
        : undefined;
      this.o.fleet.report({ state: 'idle', error: refusal ? `reboot refused: ${refusal.message}` : '' });
      throw refusal ?? err;
    }
    await savePendingReboot(this.o.stateDir, {
      strategy: 'fleetlock', group: c.group, hostId: c.id, from: plan.from, to: plan.to ?? '', since: new Date().toISOString(), fleetlockUrl: url,
    });
    this.o.fleet.report({ state: 'rebooting', slot: `fleetlock ${c.group}/${c.id}`, error: '' });
  }

  /**
   * After berthd started (units reconciled): the boot check of a pending reboot, then the slot back (healthy)
   * or kept with the host marked failed. Nothing to do without a pending reboot.
   */
  async afterBoot(runningVersion: string, signal?: AbortSignal): Promise<void> {
    const pending = await loadPendingReboot(this.o.stateDir);
    if (!pending) return;
    if (pending.failed !== undefined) {
      this.o.fleet.report({ state: 'failed', slot: this.slotName(pending), error: pending.failed });
      return;
    }
    this.o.fleet.report({ state: 'boot-check', slot: this.slotName(pending) });
    const problem = await this.bootProblem(pending, runningVersion, signal);
    if (problem !== undefined) {
      this.o.log.warn({ problem }, 'fleet: the boot after the update failed; keeping the reboot slot, the group\'s rollout halts');
      await savePendingReboot(this.o.stateDir, { ...pending, failed: problem });
      if (pending.strategy === 'etcd') {
        const { client } = await this.o.fleet.whenConnected(signal);
        await failSlot(client, pending.group, pending.hostId, { from: pending.from, to: pending.to, since: pending.since }, problem, signal);
      }
      this.o.fleet.report({ state: 'failed', slot: this.slotName(pending), error: `update to ${pending.to || 'the same version'} failed: ${problem}` });
      return;
    }
    if (pending.strategy === 'etcd') {
      const { client } = await this.o.fleet.whenConnected(signal);
      await releaseSlot(client, pending.group, pending.hostId, signal);
    } else {
      await fleetLockUntilOk({ url: pending.fleetlockUrl ?? '', id: pending.hostId, group: pending.group }, 'steady-state', {
        ...(signal ? { signal } : {}), waiting: (reason) => this.o.log.warn({ reason }, 'fleet: FleetLock steady-state refused; retrying'),
      });
    }
    await clearPendingReboot(this.o.stateDir);
    this.o.log.info({ version: runningVersion }, 'fleet: booted healthy; reboot slot released');
    this.o.fleet.report({ state: 'idle', slot: '', error: '' });
  }

  private slotName(p: PendingReboot): string {
    return p.strategy === 'etcd' ? slotKey(p.group, p.hostId) : `fleetlock ${p.group}/${p.hostId}`;
  }

  /** Why this boot is not a good one: another version than the one rebooted into, or units not running in time. */
  private async bootProblem(p: PendingReboot, runningVersion: string, signal?: AbortSignal): Promise<string | undefined> {
    if (p.to !== '' && runningVersion !== p.to) return `booted ${runningVersion} instead of ${p.to} (rolled back)`;
    const deadline = Date.now() + (this.o.bootCheckMs ?? BOOT_CHECK_MS);
    for (;;) {
      const h = this.o.health();
      if (h.failed === 0 && h.running === h.units) return undefined;
      if (Date.now() > deadline) return `units not running ${Math.round((this.o.bootCheckMs ?? BOOT_CHECK_MS) / 1000)} s after the boot (${h.running}/${h.units} running, ${h.failed} failed)`;
      signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, HEALTH_POLL_MS));
    }
  }
}
