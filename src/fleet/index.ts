// Public surface of the fleet room: membership of an etcd-coordinated fleet and its fleet-wide settings.

export { FleetMember, FleetValidationError, HEARTBEAT_MS, type FleetMemberOptions } from './member.js';
export { LEASE_TTL_S, type FleetLog } from './etcd-session.js';
export { healthText, type HealthSummary, type HostRecord } from './record.js';
export { hostKey, hostsPrefix, settingsKey } from './config.js';
