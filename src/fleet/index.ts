// Public surface of the fleet room: membership of an etcd-coordinated fleet and its fleet-wide settings.

export { FleetMember, FleetValidationError, HEARTBEAT_MS, type FleetMemberOptions } from './member.js';
export { LEASE_TTL_S, type FleetLog } from './etcd-session.js';
export { healthText, type HealthSummary, type HostRecord } from './record.js';
export { hostKey, hostsPrefix, readMachineId, settingsKey } from './config.js';
export { RebootCoordinator, BOOT_CHECK_MS, type CoordinatorOptions } from './reboot-coordinator.js';
export { readGroup, semaphoreKey, slotKey, slotsPrefix, updateKey, type GroupView, type GroupUpdate } from './reboot-slots.js';
export { holdRollout, resumeRollout, startRollout } from './slot-client.js';
export type { RolloutHooks, RolloutUpdater } from './rollout.js';
