// The simulation's results: the JSON written to bench/results/fleet-sim.json and the table printed. Every
// value under `figures` is a number (the integration test checks they are all finite).
import type { RebootSlotFigures } from './reboot-slots.js';
import type { SimOptions } from './options.js';

export interface SimFigures {
  registration: { allHostsMs: number; perHostP50Ms: number; perHostP99Ms: number; perHostMaxMs: number };
  settingsPropagation: { allHostsMedianMs: number; allHostsP99Ms: number; allHostsMaxMs: number; perHostP50Ms: number; perHostP99Ms: number };
  atRest: {
    windowSeconds: number;
    unaryRequestsPerHostPerMinute: number;
    leaseKeepAlivesPerHostPerMinute: number;
    leaseKeepAlivesPerSecond: number;
    streamMessagesPerHostPerMinute: number;
    raftProposalsPerSecond: number;
  };
  memory: { rssPerHostKiB: number; heapPerHostKiB: number };
  etcd: { watchers: number; watchStreams: number; openLeaseKeepAliveStreams: number; hostTcpConnections: number; dbSizeBytes: number; keys: number };
}

export interface SimReport {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; etcd: string };
  options: Omit<SimOptions, 'out'>;
  figures: SimFigures;
  rebootSlots: RebootSlotFigures;
  detail: {
    unaryRequestsByMethod: Record<string, number>;
    streamMessagesByMethod: Record<string, number>;
    settingsChangeAllHostsMs: number[];
    fleetCodeWarnings: { count: number; sample: string[] };
  };
}

const ms = (x: number): string => `${x.toFixed(0)} ms`;
const num = (x: number, d = 1): string => x.toFixed(d);

export function formatReport(r: SimReport): string {
  const f = r.figures;
  const rows: [string, string][] = [
    [`registration of all ${r.options.hosts} hosts (all start at once)`, ms(f.registration.allHostsMs)],
    ['  per host: p50 / p99 / max', `${ms(f.registration.perHostP50Ms)} / ${ms(f.registration.perHostP99Ms)} / ${ms(f.registration.perHostMaxMs)}`],
    [`settings change → every host reports it (${r.options.changes} changes): median / p99 / max`, `${ms(f.settingsPropagation.allHostsMedianMs)} / ${ms(f.settingsPropagation.allHostsP99Ms)} / ${ms(f.settingsPropagation.allHostsMaxMs)}`],
    ['  per host: p50 / p99', `${ms(f.settingsPropagation.perHostP50Ms)} / ${ms(f.settingsPropagation.perHostP99Ms)}`],
    [`at rest (${f.atRest.windowSeconds} s window): unary requests per host per minute`, num(f.atRest.unaryRequestsPerHostPerMinute, 2)],
    ['  lease keepalives per host per minute', num(f.atRest.leaseKeepAlivesPerHostPerMinute, 2)],
    ['  lease keepalives per second (whole fleet)', num(f.atRest.leaseKeepAlivesPerSecond)],
    ['  stream messages (all) per host per minute', num(f.atRest.streamMessagesPerHostPerMinute, 2)],
    ['  raft proposals committed per second', num(f.atRest.raftProposalsPerSecond)],
    ['memory per simulated host: RSS / JS heap', `${num(f.memory.rssPerHostKiB, 0)} KiB / ${num(f.memory.heapPerHostKiB, 0)} KiB`],
    ['etcd: watchers / watch streams / keepalive streams', `${f.etcd.watchers} / ${f.etcd.watchStreams} / ${f.etcd.openLeaseKeepAliveStreams}`],
    ['hosts\' TCP connections to etcd', String(f.etcd.hostTcpConnections)],
    ['etcd db size / keys', `${num(f.etcd.dbSizeBytes / 1048576)} MiB / ${f.etcd.keys}`],
    ['reboot-slot throughput', r.rebootSlots.measured ? `${num(r.rebootSlots.slotsPerSecond)} slots/s` : r.rebootSlots.note],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const head = `fleet-sim: ${r.options.hosts} hosts in ${r.options.workers} processes, ${r.options.perHostConnections ? 'own etcd connections per host' : 'connections shared per process'}; `
    + `3-member etcd ${r.machine.etcd}; ${r.machine.cpus} CPUs (${r.machine.cpuModel}), shared by etcd and the simulation`;
  return [head, ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)].join('\n');
}

/** Every figure, with its path, for the "all finite" check. */
export function figureEntries(f: SimFigures): [string, unknown][] {
  return Object.entries(f).flatMap(([group, values]) => Object.entries(values as Record<string, unknown>).map(([k, v]) => [`${group}.${k}`, v] as [string, unknown]));
}
