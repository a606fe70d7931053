// A host's part of its group's rolling update (`berthctl fleet update --group G --version X`): while this
// host runs another version than the group's target, it checks (version-lock pinned to X, its wave honoured),
// applies (download, verify, install to the other slot) and reboots through the updater, whose reboot gate
// (./reboot-coordinator.ts) takes the slot — once: waiting for it as long as it takes, in the background, until
// this agent stops (berthd leaves or changes its fleet, or exits); a `fleet hold` grants nobody a slot meanwhile.
// After the reboot, ./reboot-coordinator.ts checks the boot and gives the slot back.
// It acts on every change of the group's rollout or semaphore key, and re-reads them every few seconds.

import type { Etcd3 } from 'etcd3';
import type { FleetConfig } from './config.js';
import type { FleetLog } from './etcd-session.js';
import { clearPendingReboot, loadPendingReboot } from './pending-reboot.js';
import type { RebootCoordinator } from './reboot-coordinator.js';
import { readGroup, slotKey, type GroupView } from './reboot-slots.js';
import { releaseSlot, waitGroupChange } from './slot-client.js';

/** What the rollout needs of the host's updater (src/updates/updater.ts's Updater has it). */
export interface RolloutUpdater {
  status(): RolloutUpdateStatus;
  check(): Promise<RolloutUpdateStatus>;
  apply(): Promise<{ finished: Promise<void> }>;
  cancel(): Promise<unknown>;
  /** Through the reboot gate: `rollout` takes a slot whatever the strategy; `signal` cancels the wait. */
  reboot(o: { signal?: AbortSignal; rollout?: boolean }): Promise<void>;
}

export interface RolloutUpdateStatus {
  readonly state: string;
  readonly runningVersion: string;
  readonly chosenVersion?: string;
  readonly operation?: { readonly kind: string };
  readonly lastCheckReason?: string;
}

export interface RolloutHooks {
  readonly updater: RolloutUpdater;
  readonly coordinator: RebootCoordinator;
  readonly stateDir: string;
}

/** A repository is asked again for a version it did not offer at most this often. */
const RECHECK_MS = 60_000;
/** After a failed step (a download, the installer), the next try waits this long. */
const FAILURE_BACKOFF_MS = 15_000;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class RolloutAgent {
  /** The version the group's rollout wants on this host; undefined: none (berthd's version-lock applies). */
  target: string | undefined;
  private rebooting = false;
  private lastCheck = { version: '', at: 0 };

  constructor(
    private readonly client: Etcd3,
    private readonly config: FleetConfig,
    private readonly hooks: RolloutHooks,
    private readonly report: (fields: { state?: string; slot?: string; error?: string }) => void,
    private readonly log: FleetLog,
    private readonly signal: AbortSignal,
  ) {}

  async run(): Promise<void> {
    let revision = 0;
    while (!this.signal.aborted) {
      try {
        const view = await readGroup(this.client, this.config.group);
        revision = view.revision;
        await this.step(view);
      } catch (err) {
        if (this.signal.aborted) return;
        this.report({ error: `rollout: ${message(err)}` });
        this.log.warn({ err: message(err) }, 'fleet: rollout step failed; trying again later');
        await new Promise((r) => setTimeout(r, FAILURE_BACKOFF_MS).unref());
      }
      if (this.signal.aborted) return;
      await waitGroupChange(this.client, this.config.group, revision, this.signal).catch(() => undefined);
    }
  }

  private async step(view: GroupView): Promise<void> {
    const me = this.config.hostId;
    const holding = view.sem.holders.includes(me);
    const failure = view.sem.failed.find((f) => f.host === me);
    const pending = await loadPendingReboot(this.hooks.stateDir);
    if (pending?.failed !== undefined) {
      if (failure || holding) return this.report({ state: 'failed', slot: slotKey(this.config.group, me), error: `update failed: ${pending.failed}` });
      // `fleet resume` took the slot back: this host may try again.
      await clearPendingReboot(this.hooks.stateDir);
      this.log.info({}, 'fleet: the group was resumed; this host may update again');
    } else if (pending || this.rebooting) {
      return; // a reboot in flight, or its boot check (./reboot-coordinator.ts) not done yet
    } else if (holding && !this.hooks.coordinator.acquiring) {
      // Granted in etcd but never remembered here: berthd died between the grant and the pending-reboot file,
      // so it never rebooted for it. Give it back; the rollout asks again.
      this.log.warn({}, 'fleet: holding a reboot slot this host has no record of; releasing it');
      await releaseSlot(this.client, this.config.group, me, this.signal);
      return;
    }
    const u = view.update;
    const updater = this.hooks.updater;
    const running = updater.status().runningVersion;
    if (!u || u.version === running) {
      this.target = undefined;
      return this.report({ state: 'idle', slot: holding ? slotKey(this.config.group, me) : '', error: '' });
    }
    this.target = u.version;
    for (let round = 0; round < 8 && !this.signal.aborted; round++) {
      const s = updater.status();
      if (s.operation) return; // an operator's update operation runs: act after it
      if (s.state === 'ready' && s.chosenVersion === u.version) return this.reboot(running, u.version);
      if (s.state !== 'idle' && s.chosenVersion !== u.version) {
        await updater.cancel(); // another version is in the way: back one step, then again
        continue;
      }
      if (s.state === 'idle') {
        if (this.lastCheck.version === u.version && Date.now() - this.lastCheck.at < RECHECK_MS) return;
        this.report({ state: 'checking' });
        const checked = await updater.check();
        this.lastCheck = { version: u.version, at: Date.now() };
        if (checked.chosenVersion !== u.version) {
          return this.report({ state: 'waiting', error: `rollout to ${u.version}: not offered to this host yet (${checked.lastCheckReason ?? 'no reason given'})` });
        }
        continue;
      }
      this.report({ state: 'staging', error: '' });
      const { finished } = await updater.apply();
      await finished;
    }
  }

  private async reboot(from: string, to: string): Promise<void> {
    this.rebooting = true;
    this.log.warn({ from, to }, 'fleet: rollout: rebooting into the update once the group grants a reboot slot');
    try {
      // The updater's gate takes the slot (a FleetLock server's lock when the host says so). A failed command
      // keeps the slot and halts the group, as a failed boot does (the gate's rebootFailed).
      await this.hooks.updater.reboot({ signal: this.signal, rollout: true });
    } catch (err) {
      this.rebooting = false;
      throw err;
    }
  }
}
