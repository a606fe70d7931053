// The reboot gate of a fleet host (updates.reboot-strategy; the interface is src/updates/reboot-gate.ts):
//   before an update reboot: take a slot of the group's semaphore in etcd (./slot-client.ts) or a FleetLock
//     server's lock (./fleetlock.ts), and remember it on disk (./pending-reboot.ts);
//   after the next start (berthd up on the new version, units running): give it back; a host that came back
//     on another version (rolled back) or whose units do not come up keeps it and marks itself failed, which
//     halts the group's rollout until `berthctl fleet resume`.
// `immediate` asks nobody, except for the reboots of a fleet rollout (./rollout.ts), which always take a slot.

import type { Etcd3 } from 'etcd3';
import { fleetFamily, type SettingsStore } from '../settings/index.js';
import { updatesFamily } from '../settings/families/updates.js';
import type { FleetConfig } from './config.js';
import type { FleetLog } from './etcd-session.js';
import { fleetLockUntilOk, type FleetLockClient } from './fleetlock.js';
import { clearPendingReboot, loadPendingReboot, savePendingReboot, type PendingReboot } from './pending-reboot.js';
import type { HealthSummary } from './record.js';
import { slotKey } from './reboot-slots.js';
import { acquireSlot, failSlot, releaseSlot } from './slot-client.js';

/**
 * A reboot the settings do not allow yet (a strategy without what it needs): FAILED_PRECONDITION over the API
 * (the `code` the API reads), naming the setting, rather than an internal error.
 */
export class RebootRefusedError extends Error {
  override readonly name = 'RebootRefusedError';
  readonly code = 9;
}

/** How long units may take to be running after a reboot before the boot counts as failed. */
export const BOOT_CHECK_MS = 120_000;
const HEALTH_POLL_MS = 250;

export interface RebootPlanLike {
  readonly from: string;
  readonly to: string | undefined;
}

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
  async beforeReboot(plan: RebootPlanLike): Promise<void> {
    const strategy = this.o.store.family(updatesFamily).rebootStrategy;
    if (strategy === 'fleetlock') return this.lockFleetLock(plan);
    if (strategy === 'etcd') return this.takeSlot(plan);
  }

  /** Takes (or already holds) a slot of the group's semaphore; resolves when held. */
  async takeSlot(plan: RebootPlanLike, signal?: AbortSignal): Promise<void> {
    const etcd = this.o.fleet.etcd();
    if (!etcd) throw new RebootRefusedError('updates.reboot-strategy = etcd needs a fleet: set fleet.etcd.endpoints and fleet.group');
    const { client, config } = etcd;
    const pending: PendingReboot = { strategy: 'etcd', group: config.group, hostId: config.hostId, from: plan.from, to: plan.to ?? '', since: new Date().toISOString() };
    this.o.fleet.report({ state: 'waiting-for-slot' });
    this.acquiring = true;
    try {
      await this.acquire(client, config, pending, signal);
    } finally {
      this.acquiring = false;
    }
    this.o.log.info({ group: config.group, slot: slotKey(config.group, config.hostId) }, 'fleet: reboot slot taken');
    this.o.fleet.report({ state: 'rebooting', slot: slotKey(config.group, config.hostId), error: '' });
  }

  private async acquire(client: Etcd3, config: FleetConfig, pending: PendingReboot, signal: AbortSignal | undefined): Promise<void> {
    await acquireSlot(client, config.group, config.hostId, {
      hostMax: () => this.o.store.family(fleetFamily).maxConcurrentReboots,
      slot: { from: pending.from, to: pending.to, since: pending.since },
      ...(signal ? { signal } : {}),
      waiting: (reason) => {
        this.o.log.info({ reason }, 'fleet: waiting for a reboot slot');
        this.o.fleet.report({ state: 'waiting-for-slot', error: `waiting for a reboot slot: ${reason}` });
      },
    });
    await savePendingReboot(this.o.stateDir, pending);
  }

  private fleetLockClient(url: string): FleetLockClient {
    const fleet = this.o.store.family(fleetFamily);
    const id = fleet.hostId ?? this.o.machineId() ?? '';
    if (id === '') throw new RebootRefusedError('updates.reboot-strategy = fleetlock needs fleet.host-id (or /etc/machine-id) to name this host');
    // FleetLock's default group, as Zincati's.
    return { url, id, group: fleet.group ?? 'default' };
  }

  private async lockFleetLock(plan: RebootPlanLike): Promise<void> {
    const url = this.o.store.family(updatesFamily).fleetlockUrl;
    if (!url) throw new RebootRefusedError('updates.fleetlock-url: not set (updates.reboot-strategy = fleetlock)');
    const c = this.fleetLockClient(url);
    this.o.fleet.report({ state: 'waiting-for-slot' });
    await fleetLockUntilOk(c, 'pre-reboot', { waiting: (reason) => this.o.log.info({ reason }, 'fleet: FleetLock server says not yet') });
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
