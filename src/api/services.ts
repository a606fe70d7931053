// The interfaces the API server is programmed against besides SupervisorApi (src/supervisor/types.ts).
// The server only translates between gRPC messages and these calls; whatever implements them owns the logic.
// Implementations throw ValidationError / NotFoundError / UnavailableError (src/api/errors.ts), or their own
// errors named alike (src/api/errors.ts maps by name), for failures a client should be able to tell apart.

export type { WorkloadsApi } from './workloads-service.js';

export interface SettingsApi {
  /** Effective settings under a dotted prefix, nested from the root (`{"host-containers": {...}}`). */
  get(prefix?: string): Promise<unknown>;
  /** Values as typed on a CLI (`"true"`, `"a,b"`); all or nothing. */
  set(values: Record<string, string>): Promise<{ changed: string[] }>;
  /** A JSON object of dotted or nested keys. */
  setJson(json: string): Promise<{ changed: string[] }>;
  /** A user-data document, `[settings.host-containers.admin] enabled = true`. */
  apply(document: string, format: 'toml' | 'json'): Promise<{ changed: string[] }>;
  stage(tx: string, values: Record<string, string>): Promise<void>;
  commit(tx: string): Promise<{ changed: string[] }>;
  discard(tx: string): Promise<void>;
  /** Staged changes as `{ dottedKey: value }` (`null` for a removal). */
  pending(tx: string): Promise<Record<string, unknown>>;
  keys(): { pattern: string; description: string }[];
}

export interface ImagesApi {
  /** Imports an OCI archive at `path` on the host; `ref` renames a single-image archive. */
  import(path: string, ref?: string): Promise<{ name: string; digest: string }[]>;
  list(): Promise<{ name: string; digest: string; size: number }[]>;
  remove(ref: string): Promise<void>;
  /**
   * Pulls `ref` from its registry, reporting progress; resolves with the normalised name and digest.
   * Optional so that implementations without registry access (fakes) answer UNIMPLEMENTED.
   */
  pull?(ref: string, onProgress: (p: PullProgressReport) => void, signal: AbortSignal): Promise<{ name: string; digest: string }>;
  /** Removes content and snapshots no image or container uses. */
  prune?(): Promise<{ contentRemoved: number; snapshotsRemoved: number; bytesReclaimed: number }>;
}

export interface PullProgressReport {
  phase: 'resolving' | 'fetching' | 'unpacking' | 'done';
  message: string;
  bytesDone: number;
  bytesTotal: number;
  layersDone: number;
  layersTotal: number;
}

export interface HostApi {
  selinux(): Promise<{ enabled: boolean; mode: string }>;
  containerdVersion(): Promise<string>;
  berthVersion: string;
}
export type { FleetApi } from './fleet-service.js';
