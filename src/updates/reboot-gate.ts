// Who allows an update reboot (updates.reboot-strategy). The updater asks its gate right before it runs
// updates.reboot-command; the gate may wait (a fleet's reboot slot, a FleetLock server's answer) or refuse.
// The strategies that need a fleet (etcd, fleetlock) live in src/fleet/; berthd's wiring picks one per
// reboot from the settings of now. `immediate` is the default: nobody is asked.

export interface RebootPlan {
  /** The version running now. */
  readonly from: string;
  /** The version the reboot boots into; undefined: a plain reboot (no update ready). */
  readonly to: string | undefined;
}

/** How long, and for whom, a gate may wait. */
export interface RebootWait {
  /** Ends the wait: the caller went away, `update cancel`, berthd leaving the fleet. */
  readonly signal?: AbortSignal;
  /**
   * How long to wait for a slot or lock before refusing (0: only one free now). Undefined: as long as it
   * takes — a fleet rollout, where nobody waits on an answer. An operator's or brupop's call always bounds it.
   */
  readonly maxWaitMs?: number;
  /** A fleet rollout's reboot: it takes a slot of the group's semaphore even with strategy `immediate`. */
  readonly rollout?: boolean;
}

export interface RebootGate {
  /**
   * Resolves when this host may reboot now (it then holds whatever it took until it has booted back
   * healthy); rejects when it may not (the error says why, and nothing is held).
   */
  beforeReboot(plan: RebootPlan, wait?: RebootWait): Promise<void>;
  /** updates.reboot-command failed after beforeReboot let the reboot go: the host did not go down. */
  rebootFailed?(plan: RebootPlan, reason: string): Promise<void>;
}

export const immediateGate: RebootGate = {
  beforeReboot: () => Promise.resolve(),
};
