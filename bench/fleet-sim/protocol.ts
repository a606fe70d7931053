// Messages between the fleet simulation's driver (./main.ts) and its worker processes (./worker.ts), over the
// IPC channel child_process.fork opens.

export interface WorkerSetup {
  readonly kind: 'setup';
  readonly endpoints: readonly string[];
  readonly group: string;
  /** Host ids this worker simulates. */
  readonly hostIds: readonly string[];
  /** A tmpfs directory for the hosts' state dirs (settings file, fleet state). */
  readonly stateRoot: string;
  readonly defaultsFile: string;
  /** Every simulated host its own etcd connections, as separate machines have (see ./connections.ts). */
  readonly perHostConnections: boolean;
}

/** Parent → worker. `start.batch`: hosts joining at a time, 0: all at once. */
export type ToWorker = WorkerSetup | { readonly kind: 'start'; readonly batch: number } | { readonly kind: 'measure-memory' } | { readonly kind: 'stop' };

export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
}

/** Worker → parent. */
export type FromWorker =
  /** Settings stores opened (nothing talks to etcd yet); memory before any fleet member exists. */
  | { readonly kind: 'ready'; readonly baseline: MemorySample }
  /** Every host of this worker logged "registered"; ms from its start() to that log, per host. */
  | { readonly kind: 'registered'; readonly latenciesMs: readonly number[]; readonly warnings: number }
  | { readonly kind: 'memory'; readonly sample: MemorySample; readonly sockets: number }
  /** Warnings the fleet code logged (lease lost, retries): a healthy run has none. */
  | { readonly kind: 'warnings'; readonly count: number; readonly sample: readonly string[] }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'error'; readonly message: string };
