// berth.v1.Updates messages ↔ UpdateStatusInfo, both directions (server and client).

export type UpdateStateName = 'idle' | 'available' | 'staged' | 'ready';

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
}

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
  };
}
