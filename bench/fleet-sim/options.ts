// Command line of `npm run fleet-sim`. Bad input is refused naming the flag.
import os from 'node:os';
import { parseArgs } from 'node:util';

export interface SimOptions {
  readonly hosts: number;
  readonly workers: number;
  /** Settings documents written one after the other; each is timed until every host reports it. */
  readonly changes: number;
  /** The at-rest window over which etcd's counters are read. */
  readonly idleSeconds: number;
  readonly perHostConnections: boolean;
  /** Hosts each worker starts at a time (the next batch once these registered); 0: all at once. */
  readonly joinBatch: number;
  readonly quick: boolean;
  readonly out: string | undefined;
}

export const USAGE = `usage: npm run fleet-sim -- [--hosts N] [--quick] [--workers N] [--changes N] [--idle-seconds S]
                                 [--join-batch N] [--shared-connections] [--out FILE]
  --hosts N               simulated hosts (default 1000; --quick: 50)
  --quick                 a short run for CI: 50 hosts, 2 settings changes, a 10 s idle window
  --workers N             worker processes the hosts are spread over (default: one per CPU, at least 2)
  --changes N             fleet settings documents to time (default 5)
  --idle-seconds S        the at-rest window for etcd's request counters (default 60; shorter than the
                          hosts' 60 s record heartbeat, it over- or under-counts their Puts)
  --join-batch N          each worker starts N hosts at a time, the next N once those registered
                          (default 0: every host at once, a thundering herd)
  --shared-connections    let grpc-js share one connection per etcd member between the hosts of a worker
                          (default: every simulated host has its own, as separate machines do)
  --out FILE              where to write the JSON (default bench/results/fleet-sim.json)`;

export class UsageError extends Error {}

function int(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return n;
}

export function parseOptions(argv: readonly string[]): SimOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        hosts: { type: 'string' },
        quick: { type: 'boolean', default: false },
        workers: { type: 'string' },
        changes: { type: 'string' },
        'idle-seconds': { type: 'string' },
        'shared-connections': { type: 'boolean', default: false },
        'join-batch': { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const quick = values.quick ?? false;
  const hosts = int('hosts', values.hosts, quick ? 50 : 1000, 1, 100_000);
  const workers = int('workers', values.workers, Math.max(2, os.availableParallelism()), 1, 64);
  return {
    hosts,
    workers: Math.min(workers, hosts),
    changes: int('changes', values.changes, quick ? 2 : 5, 1, 100),
    idleSeconds: int('idle-seconds', values['idle-seconds'], quick ? 10 : 60, 1, 3600),
    perHostConnections: !(values['shared-connections'] ?? false),
    joinBatch: int('join-batch', values['join-batch'], 0, 0, 100_000),
    quick,
    out: values.out,
  };
}
