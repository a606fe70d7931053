// berth's update status in Bottlerocket's JSON: GET /updates/status as thar-be-updates writes it
// (sources/updater/thar-be-updates/src/status.rs: UpdateStatus) and brupop's agent parses it
// (agent/src/apiclient.rs), GET /os as Bottlerocket's apiserver answers it (BottlerocketRelease). Field names
// and order are theirs; brupop refuses a document missing any of the status fields.
import type { UpdateImageInfo, UpdatePartitionInfo, UpdateStatusInfo } from '../wire/updates.js';

export type BottlerocketUpdateState = 'Idle' | 'Available' | 'Staged' | 'Ready';

export interface BottlerocketImage {
  arch: string;
  version: string;
  variant: string;
}

export interface BottlerocketPartition {
  image: BottlerocketImage | null;
  next_to_boot: boolean;
}

export interface BottlerocketCommand {
  cmd_type: string;
  cmd_status: string;
  timestamp: string;
  exit_status: number;
  stderr: string;
}

export interface BottlerocketUpdateStatus {
  update_state: BottlerocketUpdateState;
  available_updates: string[];
  chosen_update: BottlerocketImage | null;
  active_partition: BottlerocketPartition | null;
  staging_partition: BottlerocketPartition | null;
  most_recent_command: BottlerocketCommand;
}

export interface BottlerocketOs {
  pretty_name: string;
  variant_id: string;
  version_id: string;
  build_id: string;
  arch: string;
}

const STATES: Record<UpdateStatusInfo['state'], BottlerocketUpdateState> = { idle: 'Idle', available: 'Available', staged: 'Staged', ready: 'Ready' };

const image = (i: UpdateImageInfo): BottlerocketImage => ({ arch: i.arch, version: i.version, variant: i.variant });
const partition = (p: UpdatePartitionInfo): BottlerocketPartition => ({ image: p.image ? image(p.image) : null, next_to_boot: p.nextToBoot });

/**
 * Before any command, Bottlerocket's fresh status names a refresh of unknown outcome; the epoch says "never"
 * (brupop reads only the type and status, and waits for a refresh that succeeded).
 */
const NO_COMMAND: BottlerocketCommand = { cmd_type: 'refresh', cmd_status: 'Unknown', timestamp: '1970-01-01T00:00:00Z', exit_status: 0, stderr: '' };

export function bottlerocketUpdateStatus(s: UpdateStatusInfo): BottlerocketUpdateStatus {
  const c = s.mostRecentCommand;
  return {
    update_state: STATES[s.state] ?? 'Idle',
    available_updates: [...s.availableVersions],
    chosen_update: s.chosenUpdate ? image(s.chosenUpdate) : null,
    active_partition: s.activePartition ? partition(s.activePartition) : null,
    staging_partition: s.stagingPartition ? partition(s.stagingPartition) : null,
    most_recent_command: c ? { cmd_type: c.cmdType, cmd_status: c.cmdStatus, timestamp: c.timestamp, exit_status: c.exitStatus, stderr: c.stderr } : { ...NO_COMMAND },
  };
}

export function bottlerocketOs(s: UpdateStatusInfo): BottlerocketOs {
  return {
    pretty_name: s.os?.prettyName || `berth ${s.runningVersion}`,
    variant_id: s.os?.variant ?? '',
    version_id: s.runningVersion,
    build_id: s.os?.buildId ?? '',
    arch: s.os?.arch ?? '',
  };
}
