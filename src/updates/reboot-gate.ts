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

export interface RebootGate {
  /**
   * Resolves when this host may reboot now (it then holds whatever it took until it has booted back
   * healthy); rejects when it may not (the error says why).
   */
  beforeReboot(plan: RebootPlan): Promise<void>;
}

export const immediateGate: RebootGate = {
  beforeReboot: () => Promise.resolve(),
};
