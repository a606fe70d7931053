// Translation between berth.v1 wire messages and their TypeScript values (./types.ts), in both directions:
// the server (src/api/) encodes with these, the client (src/cli/client.ts) decodes with them, so the two
// can't drift apart.
import type {
  DaemonStatus, HealthState, HostFacts, LogLine, ProcessStats, PullProgressMessage, SelinuxInfo, StopProgress, UnitClass, UnitEvent, UnitOrDaemonEvent, UnitState,
  UnitStatus, VersionInfo, WatchEvent, RolloutInfo,
} from './types.js';
import type {
  WireDaemonStatus, WireEvent, WireHostFacts, WireLogLine, WireProcessStats, WirePullProgress, WireStopProgress, WireUnit, WireUnitEvent, WireVersion, WireRollout,
} from './messages.js';

// ---- encoding (the server's side) ---------------------------------------------------------------------

export function unitToWire(u: UnitStatus): WireUnit {
  // Optional fields are copied only when present: proto3 `optional` distinguishes "0" from "not set".
  const wire: WireUnit = {
    name: u.name,
    class: u.class,
    state: u.state,
    desired: u.desired,
    image: u.image,
    superpowered: u.superpowered,
    container_id: u.containerId,
    namespace: u.namespace,
    pid: u.pid,
    restarts: u.restarts,
    health: u.health,
    events: u.events,
  };
  if (u.exitCode !== undefined) wire.exit_code = u.exitCode;
  if (u.lastError !== undefined) wire.last_error = u.lastError;
  if (u.startedAt !== undefined) wire.started_at = u.startedAt;
  if (u.nextRestartInMs !== undefined) wire.next_restart_in_ms = u.nextRestartInMs;
  if (u.runningImage !== undefined) wire.running_image = u.runningImage;
  if (u.rollout !== undefined) wire.rollout = rolloutToWire(u.rollout);
  if (u.rolloutHistory !== undefined) wire.rollout_history = u.rolloutHistory.map(rolloutToWire);
  if (u.selinux !== undefined) {
    wire.selinux = {
      process_label: u.selinux.processLabel,
      mount_label: u.selinux.mountLabel,
      applied: u.selinux.applied,
      reason: u.selinux.reason,
    };
  }
  return wire;
}

function rolloutToWire(r: RolloutInfo): WireRollout {
  const w: WireRollout = { id: r.id, phase: r.phase, outcome: r.outcome, from: { ...r.from }, to: { ...r.to }, watch_ms: r.watchMs, started_at: r.startedAt };
  if (r.deadline !== undefined) w.deadline = r.deadline;
  if (r.endedAt !== undefined) w.ended_at = r.endedAt;
  if (r.reason !== undefined) w.reason = r.reason;
  if (r.exitCode !== undefined) w.exit_code = r.exitCode;
  return w;
}

function rolloutFromWire(w: WireRollout): RolloutInfo {
  const r: RolloutInfo = {
    id: w.id, phase: w.phase, outcome: w.outcome, from: { ref: w.from?.ref ?? '', digest: w.from?.digest ?? '' }, to: { ref: w.to?.ref ?? '', digest: w.to?.digest ?? '' },
    watchMs: Number(w.watch_ms), startedAt: w.started_at,
  };
  if (w.deadline) r.deadline = w.deadline;
  if (w.ended_at) r.endedAt = w.ended_at;
  if (w.reason) r.reason = w.reason;
  if (w.exit_code !== undefined && w.exit_code !== null) r.exitCode = w.exit_code;
  return r;
}

export function daemonToWire(d: DaemonStatus): WireDaemonStatus {
  return { ready: d.ready, containerd: d.containerd, message: d.message };
}

export function eventToWire(e: UnitOrDaemonEvent): WireEvent {
  return e.kind === 'unit'
    ? { at: e.at, unit: { unit: e.unit, state: e.state, message: e.message } }
    : { at: e.at, daemon: { message: e.message } };
}

export function stopProgressToWire(p: StopProgress): WireStopProgress {
  const wire: WireStopProgress = {
    kind: p.kind, name: p.name, phase: p.phase, signal: p.signal ?? '', timeout_ms: p.timeoutMs ?? 0, elapsed_ms: p.elapsedMs, message: p.message ?? '',
  };
  if (p.exitCode !== undefined) wire.exit_code = p.exitCode;
  return wire;
}

// ---- decoding (the client's side) ---------------------------------------------------------------------

const STOP_PHASES: ReadonlySet<string> = new Set<StopProgress['phase']>(['signal', 'kill', 'stopped', 'not-running', 'failed']);

/** `undefined` for a phase this client does not know (a newer server); callers skip those. */
export function stopProgressFromWire(w: WireStopProgress): StopProgress | undefined {
  if (!STOP_PHASES.has(w.phase)) return undefined;
  const p: StopProgress = { kind: w.kind === 'workload' ? 'workload' : 'unit', name: w.name, phase: w.phase as StopProgress['phase'], elapsedMs: w.elapsed_ms };
  if (w.signal) p.signal = w.signal;
  if (w.phase === 'signal') p.timeoutMs = w.timeout_ms;
  if (w.exit_code !== undefined && w.exit_code !== null) p.exitCode = w.exit_code;
  if (w.message) p.message = w.message;
  return p;
}

function unitEventFromWire(e: WireUnitEvent): UnitEvent {
  return { at: e.at, state: e.state as UnitState, message: e.message };
}

export function unitFromWire(w: WireUnit): UnitStatus {
  const u: UnitStatus = {
    name: w.name,
    class: w.class as UnitClass,
    state: w.state as UnitState,
    desired: w.desired === 'stopped' ? 'stopped' : 'running',
    image: w.image,
    superpowered: w.superpowered,
    containerId: w.container_id,
    namespace: w.namespace,
    pid: w.pid,
    restarts: w.restarts,
    health: w.health as HealthState,
    events: (w.events ?? []).map(unitEventFromWire),
  };
  if (w.exit_code !== undefined && w.exit_code !== null) u.exitCode = w.exit_code;
  if (w.last_error !== undefined && w.last_error !== null) u.lastError = w.last_error;
  if (w.started_at !== undefined && w.started_at !== null) u.startedAt = w.started_at;
  if (w.next_restart_in_ms !== undefined && w.next_restart_in_ms !== null) u.nextRestartInMs = w.next_restart_in_ms;
  if (w.running_image) u.runningImage = w.running_image;
  if (w.rollout) u.rollout = rolloutFromWire(w.rollout);
  if (w.rollout_history && w.rollout_history.length > 0) u.rolloutHistory = w.rollout_history.map(rolloutFromWire);
  if (w.selinux) {
    const s: SelinuxInfo = {
      processLabel: w.selinux.process_label,
      mountLabel: w.selinux.mount_label,
      applied: w.selinux.applied,
      reason: w.selinux.reason,
    };
    u.selinux = s;
  }
  return u;
}

export function logLineFromWire(w: WireLogLine): LogLine {
  return { at: w.at, stream: w.stream === 'stderr' ? 'stderr' : 'stdout', line: w.line };
}

export function daemonFromWire(d: WireDaemonStatus | null | undefined): DaemonStatus {
  return {
    ready: d?.ready ?? false,
    containerd: d?.containerd === 'connected' ? 'connected' : 'unavailable',
    message: d?.message ?? '',
  };
}

/** `undefined` for an event kind this client does not know (a newer server); callers skip those. */
export function watchEventFromWire(w: WireEvent): WatchEvent | undefined {
  if ('hello' in w && w.hello) {
    return { kind: 'hello', at: w.at, units: (w.hello.units ?? []).map(unitFromWire), daemon: daemonFromWire(w.hello.daemon) };
  }
  if ('unit' in w && w.unit) {
    return { kind: 'unit', at: w.at, unit: w.unit.unit, state: w.unit.state as UnitState, message: w.unit.message };
  }
  if ('daemon' in w && w.daemon) return { kind: 'daemon', at: w.at, message: w.daemon.message };
  return undefined;
}

export const pullProgressFromWire = (w: WirePullProgress): PullProgressMessage => ({
  phase: w.phase, message: w.message, bytesDone: w.bytes_done, bytesTotal: w.bytes_total, layersDone: w.layers_done, layersTotal: w.layers_total, name: w.name, digest: w.digest,
});

export function hostFactsFromWire(w: WireHostFacts): HostFacts {
  return {
    os: w.os ?? { platform: '', distro: '', release: '', arch: '', hostname: '' },
    kernel: w.kernel,
    cpu: w.cpu
      ? { manufacturer: w.cpu.manufacturer, model: w.cpu.model, cores: w.cpu.cores, physicalCores: w.cpu.physical_cores, speed: w.cpu.speed }
      : { manufacturer: '', model: '', cores: 0, physicalCores: 0, speed: 0 },
    memory: w.memory ?? { total: 0, free: 0, available: 0 },
    disks: w.disks,
    filesystems: w.filesystems,
    selinux: w.selinux ?? { enabled: false, mode: '' },
    containerdVersion: w.containerd_version,
    warnings: w.warnings,
  };
}

export function versionFromWire(v: WireVersion): VersionInfo {
  return { berthVersion: v.berth_version, containerdVersion: v.containerd_version, daemon: daemonFromWire(v.daemon) };
}

export function processStatsToWire(p: ProcessStats): WireProcessStats {
  return {
    rss_bytes: p.rssBytes, heap_used_bytes: p.heapUsedBytes, heap_total_bytes: p.heapTotalBytes, external_bytes: p.externalBytes,
    open_fds: p.openFds, loop_delay_p50_ms: p.loopDelay.p50Ms, loop_delay_p99_ms: p.loopDelay.p99Ms, loop_delay_max_ms: p.loopDelay.maxMs,
    window_ms: p.loopDelay.windowMs, loop_delay_p99_since_start_ms: p.loopDelay.p99SinceStartMs,
  };
}

export function processStatsFromWire(w: WireProcessStats): ProcessStats {
  return {
    rssBytes: w.rss_bytes, heapUsedBytes: w.heap_used_bytes, heapTotalBytes: w.heap_total_bytes, externalBytes: w.external_bytes,
    openFds: w.open_fds,
    loopDelay: {
      p50Ms: w.loop_delay_p50_ms, p99Ms: w.loop_delay_p99_ms, maxMs: w.loop_delay_max_ms, windowMs: w.window_ms,
      p99SinceStartMs: w.loop_delay_p99_since_start_ms,
    },
  };
}
