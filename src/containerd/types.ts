/** TypeScript shapes of the containerd messages berth uses (snake_case, as loaded with keepCase). */
import type { AnyMessage } from './codec.js';

export interface Timestamp {
  seconds: number;
  nanos: number;
}
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}
export interface Descriptor {
  media_type: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
export type TaskStatus = 'UNKNOWN' | 'CREATED' | 'RUNNING' | 'STOPPED' | 'PAUSED' | 'PAUSING';
export interface Process {
  container_id: string;
  id: string;
  pid: number;
  status: TaskStatus;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exit_status: number;
  exited_at: Timestamp | null;
}
export interface Container {
  id: string;
  labels: Record<string, string>;
  image: string;
  runtime: { name: string; options: AnyMessage | null } | null;
  spec: AnyMessage | null;
  snapshotter: string;
  snapshot_key: string;
  created_at?: Timestamp | null;
  updated_at?: Timestamp | null;
  extensions?: Record<string, AnyMessage>;
}
export interface Image {
  name: string;
  labels: Record<string, string>;
  target: Descriptor;
  created_at?: Timestamp | null;
  updated_at?: Timestamp | null;
}
export interface ContentInfo {
  digest: string;
  size: number;
  labels: Record<string, string>;
  created_at?: Timestamp | null;
  updated_at?: Timestamp | null;
}
export type SnapshotKind = 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED';
export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: SnapshotKind;
  labels: Record<string, string>;
}
export interface Lease {
  id: string;
  labels: Record<string, string>;
}
export interface Envelope {
  timestamp: Timestamp | null;
  namespace: string;
  topic: string;
  event: AnyMessage | null;
}
export interface WaitResult {
  exitStatus: number;
  exitedAt: Date | undefined;
}

/** containerd sends Go's zero time for "unset" timestamps. */
export function timestampToDate(ts: Timestamp | null | undefined): Date | undefined {
  if (!ts || ts.seconds <= 0) return undefined;
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6));
}
