// The simulation's results: the JSON written to bench/results/fleet-sim.json and the table printed. Every
// value under `figures` is a number (the integration test checks they are all finite).
import type { RebootSlotFigures } from './reboot-slots.js';
import type { SimOptions } from './options.js';

export interface SimFigures {
  /** retriesLogged: the fleet code's "cannot register / read; retrying" warnings while the hosts joined. */
  registration: { allHostsMs: number; perHostP50Ms: number; perHostP99Ms: number; perHostMaxMs: number; retriesLogged: number;
    /** CPU the simulated hosts used to join, per host; and what etcd (all members) used meanwhile. */
    hostCpuMsPerHost: number; etcdCpuMs: number };
  settingsPropagation: {
    hostCpuMsPerHostPerChange: number; etcdCpuMsPerChange: number; allHostsMedianMs: number; allHostsP99Ms: number; allHostsMaxMs: number; perHostP50Ms: number; perHostP99Ms: number };
  atRest: {
    windowSeconds: number;
    unaryRequestsPerHostPerMinute: number;
    leaseKeepAlivesPerHostPerMinute: number;
    leaseKeepAlivesPerSecond: number;
    streamMessagesPerHostPerMinute: number;
    raftProposalsPerSecond: number;
    hostCpuMsPerHostPerMinute: number;
    /** All members together, over the window: 100 = one core busy. */
    etcdCpuPercentOfOneCore: number;
    /** The same before any host connected (measured before registration). */
    etcdCpuPercentOfOneCoreWithoutHosts: number;
  };
  memory: { rssPerHostKiB: number; heapPerHostKiB: number };
  etcd: {
    watchers: number; watchStreams: number; openLeaseKeepAliveStreams: number; hostTcpConnections: number; dbSizeBytes: number; keys: number;
    /** The store's revision at the end: one per write since the cluster started (history until compacted). */
    revision: number;
    /** Growth of the members' resident memory (summed) from before the hosts joined to after, per host. */
    etcdRssPerHostKiB: number;
  };
}

export interface SimReport {
  date: string;
  machine: { loadAverageAtStart: number; loadAverageAtEnd: number; cpus: number; cpuModel: string; memoryGiB: number; node: string; etcd: string };
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
    [`registration of all ${r.options.hosts} hosts (${r.options.joinBatch > 0 ? `${r.options.joinBatch} per worker at a time` : 'all start at once'})`, ms(f.registration.allHostsMs)],
    ['  per host: p50 / p99 / max', `${ms(f.registration.perHostP50Ms)} / ${ms(f.registration.perHostP99Ms)} / ${ms(f.registration.perHostMaxMs)}`],
    ['  etcd calls that failed and were retried (deadline 5 s)', String(f.registration.retriesLogged)],
    ['  CPU: per host joining / etcd (all members) meanwhile', `${num(f.registration.hostCpuMsPerHost)} ms / ${ms(f.registration.etcdCpuMs)}`],
    [`settings change → every host reports it (${r.options.changes} changes): median / p99 / max`, `${ms(f.settingsPropagation.allHostsMedianMs)} / ${ms(f.settingsPropagation.allHostsP99Ms)} / ${ms(f.settingsPropagation.allHostsMaxMs)}`],
    ['  per host: p50 / p99', `${ms(f.settingsPropagation.perHostP50Ms)} / ${ms(f.settingsPropagation.perHostP99Ms)}`],
    ['  CPU per change: per host applying it / etcd', `${num(f.settingsPropagation.hostCpuMsPerHostPerChange)} ms / ${ms(f.settingsPropagation.etcdCpuMsPerChange)}`],
    [`at rest (${f.atRest.windowSeconds} s window): unary requests per host per minute`, num(f.atRest.unaryRequestsPerHostPerMinute, 2)],
    ['  lease keepalives per host per minute', num(f.atRest.leaseKeepAlivesPerHostPerMinute, 2)],
    ['  lease keepalives per second (whole fleet)', num(f.atRest.leaseKeepAlivesPerSecond)],
    ['  stream messages (all) per host per minute', num(f.atRest.streamMessagesPerHostPerMinute, 2)],
    ['  raft proposals committed per second', num(f.atRest.raftProposalsPerSecond)],
    ['  CPU: per host per minute / etcd (all members, % of one core)', `${num(f.atRest.hostCpuMsPerHostPerMinute)} ms / ${num(f.atRest.etcdCpuPercentOfOneCore)} %`],
    ['  etcd CPU with no host connected (% of one core)', `${num(f.atRest.etcdCpuPercentOfOneCoreWithoutHosts)} %`],
    ['memory per simulated host: RSS / JS heap', `${num(f.memory.rssPerHostKiB, 0)} KiB / ${num(f.memory.heapPerHostKiB, 0)} KiB`],
    ['etcd: watchers / watch streams / keepalive streams', `${f.etcd.watchers} / ${f.etcd.watchStreams} / ${f.etcd.openLeaseKeepAliveStreams}`],
    ['hosts\' TCP connections to etcd', String(f.etcd.hostTcpConnections)],
    ['etcd db size / keys / revision (no compaction)', `${num(f.etcd.dbSizeBytes / 1048576)} MiB / ${f.etcd.keys} / ${f.etcd.revision}`],
    ['etcd memory (all members) per host', `${num(f.etcd.etcdRssPerHostKiB, 0)} KiB`],
    ['reboot-slot throughput (grant + release at once)', r.rebootSlots.measured
      ? `${num(r.rebootSlots.slotsPerSecond)} slots/s: ${r.rebootSlots.contenders} hosts racing for ${r.rebootSlots.maxConcurrent} slots, the last granted after ${num(r.rebootSlots.lastHostWaitMs / 1000)} s`
      : r.rebootSlots.note],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const head = `fleet-sim: ${r.options.hosts} hosts in ${r.options.workers} processes, ${r.options.perHostConnections ? 'own etcd connections per host' : 'connections shared per process'}; `
    + `3-member etcd ${r.machine.etcd}; ${r.machine.cpus} CPUs (${r.machine.cpuModel}), shared by etcd and the simulation `
    + `(load average ${r.machine.loadAverageAtStart.toFixed(1)} at start, ${r.machine.loadAverageAtEnd.toFixed(1)} at end)`;
  return [head, ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)].join('\n');
}

/** Every figure, with its path, for the "all finite" check. */
export function figureEntries(f: SimFigures): [string, unknown][] {
  return Object.entries(f).flatMap(([group, values]) => Object.entries(values as Record<string, unknown>).map(([k, v]) => [`${group}.${k}`, v] as [string, unknown]));
}
