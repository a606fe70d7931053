// berth.v1.Updates messages ↔ UpdateStatusInfo, both directions (server and client).

export type UpdateStateName = 'idle' | 'available' | 'staged' | 'ready';

export interface UpdateImageInfo {
  readonly arch: string;
  readonly version: string;
  readonly variant: string;
}

export interface UpdatePartitionInfo {
  readonly slot: string;
  readonly image?: UpdateImageInfo;
  readonly nextToBoot: boolean;
}

export interface UpdateCommandInfo {
  readonly cmdType: string;
  readonly cmdStatus: string;
  readonly timestamp: string;
  readonly exitStatus: number;
  readonly stderr: string;
}

export interface UpdateHostOsInfo {
  readonly variant: string;
  readonly arch: string;
  readonly prettyName: string;
  readonly buildId: string;
}

export interface UpdateRollbackInfo {
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly at: string;
  readonly reason: string;
  readonly migrationsUndone?: readonly string[];
}

export interface UpdateStatusInfo {
  readonly state: UpdateStateName;
  readonly runningVersion: string;
  readonly availableVersions: readonly string[];
  readonly chosenVersion?: string;
  readonly stagedVersion?: string;
  readonly operation?: {
    readonly kind: string;
    readonly startedAt: string;
    readonly progress?: { readonly phase: string; readonly done: number; readonly total: number };
  };
  readonly lastError?: { readonly operation: string; readonly message: string; readonly at: string };
  readonly lastCheckReason?: string;
  readonly mostRecentCommand?: UpdateCommandInfo;
  readonly chosenUpdate?: UpdateImageInfo;
  readonly activePartition?: UpdatePartitionInfo;
  readonly stagingPartition?: UpdatePartitionInfo;
  readonly os?: UpdateHostOsInfo;
  readonly lastRollback?: UpdateRollbackInfo;
}

interface WirePartition {
  slot: string;
  image?: UpdateImageInfo | null;
  next_to_boot: boolean;
}

export interface WireUpdateStatus {
  state: string;
  running_version: string;
  available_versions: string[];
  chosen_version: string;
  staged_version: string;
  operation?: { kind: string; started_at: string; progress?: { phase: string; done: number; total: number } | null } | null;
  last_error?: { operation: string; message: string; at: string } | null;
  last_check_reason: string;
  most_recent_command?: { cmd_type: string; cmd_status: string; timestamp: string; exit_status: number; stderr: string } | null;
  chosen_update?: UpdateImageInfo | null;
  active_partition?: WirePartition | null;
  staging_partition?: WirePartition | null;
  os?: { variant: string; arch: string; pretty_name: string; build_id: string } | null;
  last_rollback?: { from_version: string; to_version: string; at: string; reason: string; migrations_undone?: string[] } | null;
}

const partitionToWire = (p: UpdatePartitionInfo): WirePartition => ({ slot: p.slot, ...(p.image ? { image: { ...p.image } } : {}), next_to_boot: p.nextToBoot });
const imageFromWire = (i: UpdateImageInfo): UpdateImageInfo => ({ arch: i.arch ?? '', version: i.version ?? '', variant: i.variant ?? '' });
const partitionFromWire = (p: WirePartition): UpdatePartitionInfo => ({
  slot: p.slot ?? '', ...(p.image ? { image: imageFromWire(p.image) } : {}), nextToBoot: p.next_to_boot === true,
});

export function updateStatusToWire(s: UpdateStatusInfo): WireUpdateStatus {
  return {
    state: s.state,
    running_version: s.runningVersion,
    available_versions: [...s.availableVersions],
    chosen_version: s.chosenVersion ?? '',
    staged_version: s.stagedVersion ?? '',
    ...(s.operation ? {
      operation: { kind: s.operation.kind, started_at: s.operation.startedAt, ...(s.operation.progress ? { progress: { ...s.operation.progress } } : {}) },
    } : {}),
    ...(s.lastError ? { last_error: { ...s.lastError } } : {}),
    last_check_reason: s.lastCheckReason ?? '',
    ...(s.mostRecentCommand ? {
      most_recent_command: {
        cmd_type: s.mostRecentCommand.cmdType, cmd_status: s.mostRecentCommand.cmdStatus, timestamp: s.mostRecentCommand.timestamp,
        exit_status: s.mostRecentCommand.exitStatus, stderr: s.mostRecentCommand.stderr,
      },
    } : {}),
    ...(s.chosenUpdate ? { chosen_update: { ...s.chosenUpdate } } : {}),
    ...(s.activePartition ? { active_partition: partitionToWire(s.activePartition) } : {}),
    ...(s.stagingPartition ? { staging_partition: partitionToWire(s.stagingPartition) } : {}),
    ...(s.os ? { os: { variant: s.os.variant, arch: s.os.arch, pretty_name: s.os.prettyName, build_id: s.os.buildId } } : {}),
    ...(s.lastRollback ? {
      last_rollback: {
        from_version: s.lastRollback.fromVersion, to_version: s.lastRollback.toVersion, at: s.lastRollback.at, reason: s.lastRollback.reason,
        migrations_undone: [...(s.lastRollback.migrationsUndone ?? [])],
      },
    } : {}),
  };
}

const STATES: readonly string[] = ['idle', 'available', 'staged', 'ready'];

export function updateStatusFromWire(w: WireUpdateStatus): UpdateStatusInfo {
  const op = w.operation;
  const p = op?.progress;
  return {
    // A newer server's state name is shown as it is rather than refused.
    state: (STATES.includes(w.state) ? w.state : w.state || 'idle') as UpdateStateName,
    runningVersion: w.running_version ?? '',
    availableVersions: [...(w.available_versions ?? [])],
    ...(w.chosen_version ? { chosenVersion: w.chosen_version } : {}),
    ...(w.staged_version ? { stagedVersion: w.staged_version } : {}),
    ...(op ? {
      operation: { kind: op.kind, startedAt: op.started_at, ...(p ? { progress: { phase: p.phase, done: Number(p.done), total: Number(p.total) } } : {}) },
    } : {}),
    ...(w.last_error ? { lastError: { operation: w.last_error.operation, message: w.last_error.message, at: w.last_error.at } } : {}),
    ...(w.last_check_reason ? { lastCheckReason: w.last_check_reason } : {}),
    ...(w.most_recent_command ? {
      mostRecentCommand: {
        cmdType: w.most_recent_command.cmd_type ?? '', cmdStatus: w.most_recent_command.cmd_status ?? '', timestamp: w.most_recent_command.timestamp ?? '',
        exitStatus: Number(w.most_recent_command.exit_status ?? 0), stderr: w.most_recent_command.stderr ?? '',
      },
    } : {}),
    ...(w.chosen_update ? { chosenUpdate: imageFromWire(w.chosen_update) } : {}),
    ...(w.active_partition ? { activePartition: partitionFromWire(w.active_partition) } : {}),
    ...(w.staging_partition ? { stagingPartition: partitionFromWire(w.staging_partition) } : {}),
    ...(w.os ? { os: { variant: w.os.variant ?? '', arch: w.os.arch ?? '', prettyName: w.os.pretty_name ?? '', buildId: w.os.build_id ?? '' } } : {}),
    ...(w.last_rollback ? {
      lastRollback: {
        fromVersion: w.last_rollback.from_version ?? '', toVersion: w.last_rollback.to_version ?? '', at: w.last_rollback.at ?? '', reason: w.last_rollback.reason ?? '',
        ...(w.last_rollback.migrations_undone?.length ? { migrationsUndone: [...w.last_rollback.migrations_undone] } : {}),
      },
    } : {}),
  };
}
