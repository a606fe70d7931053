// `npm run fleet-sim`: the scale simulation of issue 19. Starts its own 3-member etcd cluster (temp dirs,
// stopped by PID at the end, also on error or Ctrl-C), spreads N simulated hosts — the real FleetMember and
// etcd session code, see ./worker.ts — over a few worker processes, and measures what the fleet costs:
// registration, settings propagation, etcd requests at rest, memory per host. Figures are printed and
// written as JSON (bench/results/fleet-sim.json). ./options.ts lists the flags.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { settingsKey } from '../../src/fleet/index.js';
import { TestEtcdCluster } from '../../tests/support/etcd.js';
import { median, percentile } from '../stats.js';
import { processCpuMs, processRssBytes } from './cpu.js';
import { byMethod, scrape, total, type Sample } from './etcd-metrics.js';
import { FleetObserver } from './observer.js';
import { parseOptions, USAGE, UsageError, type SimOptions } from './options.js';
import { measureRebootSlots } from './reboot-slots.js';
import { figureEntries, formatReport, type SimFigures, type SimReport } from './report.js';
import { split, stopAll, Worker } from './workers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../../..');
const GROUP = 'sim';
/** Generous deadlines: a phase that takes longer than this is broken, not slow. */
const PHASE_MS = 10 * 60_000;

async function stateRoot(): Promise<string> {
  // tmpfs: 1,000 hosts' settings files are fsynced on every applied document; on one shared disk that would
  // measure the disk, not the fleet (each real host has its own).
  const base = await mkdir('/dev/shm/berth-fleet-sim', { recursive: true }).then(() => '/dev/shm/berth-fleet-sim', () => os.tmpdir());
  return mkdtemp(path.join(base, 'run-'));
}

function log(msg: string): void {
  process.stderr.write(`fleet-sim: ${msg}\n`);
}

/** CPU ms used so far by the workers (the simulated hosts) and by the etcd members. */
async function cpu(ctx: Ctx): Promise<{ hosts: number; etcd: number }> {
  return { hosts: await processCpuMs(ctx.workers.map((w) => w.child.pid ?? 0)), etcd: await processCpuMs(etcdPids(ctx)) };
}

function etcdPids(ctx: Ctx): number[] {
  return ctx.etcd.members.map((m) => m.child?.pid ?? 0);
}

interface Ctx {
  readonly opts: SimOptions;
  readonly etcd: TestEtcdCluster;
  readonly client: Etcd3;
  readonly observer: FleetObserver;
  readonly workers: Worker[];
  readonly ports: number[];
}

async function registration(ctx: Ctx): Promise<SimFigures['registration']> {
  const cpu0 = await cpu(ctx);
  const started = performance.now();
  for (const w of ctx.workers) w.send({ kind: 'start', batch: ctx.opts.joinBatch });
  await ctx.observer.until(() => ctx.observer.revisions.size === ctx.opts.hosts, PHASE_MS, `${ctx.opts.hosts} host records`);
  const allHostsMs = performance.now() - started;
  const reports = await Promise.all(ctx.workers.map((w) => w.next('registered', PHASE_MS)));
  const cpu1 = await cpu(ctx);
  const perHost = reports.flatMap((m) => m.latenciesMs);
  return {
    allHostsMs, perHostP50Ms: median(perHost), perHostP99Ms: percentile(perHost, 99), perHostMaxMs: Math.max(...perHost),
    retriesLogged: reports.reduce((s, m) => s + m.warnings, 0),
    hostCpuMsPerHost: (cpu1.hosts - cpu0.hosts) / ctx.opts.hosts,
    etcdCpuMs: cpu1.etcd - cpu0.etcd,
  };
}

async function propagation(ctx: Ctx): Promise<{ figures: SimFigures['settingsPropagation']; allHosts: number[] }> {
  const allHosts: number[] = [];
  const perHost: number[] = [];
  const cpu0 = await cpu(ctx);
  for (let i = 0; i < ctx.opts.changes; i++) {
    const document = `# fleet-sim change ${i + 1}\n[settings.images]\npull-timeout = "${11 + i}m"\n`;
    const t0 = performance.now();
    const res = await ctx.client.put(settingsKey(GROUP)).value(document).exec();
    const revision = Number(res.header.revision);
    await ctx.observer.until(() => [...ctx.observer.revisions.values()].every((r) => r >= revision), PHASE_MS, `every host at settings revision ${revision}`);
    const arrivals = [...(ctx.observer.arrivals.get(revision)?.values() ?? [])].map((t) => t - t0);
    allHosts.push(Math.max(...arrivals));
    perHost.push(...arrivals);
    log(`settings change ${i + 1}/${ctx.opts.changes} (revision ${revision}) reported by every host after ${Math.max(...arrivals).toFixed(0)} ms`);
  }
  const cpu1 = await cpu(ctx);
  return {
    figures: {
      hostCpuMsPerHostPerChange: (cpu1.hosts - cpu0.hosts) / ctx.opts.hosts / ctx.opts.changes,
      etcdCpuMsPerChange: (cpu1.etcd - cpu0.etcd) / ctx.opts.changes,
      allHostsMedianMs: median(allHosts), allHostsP99Ms: percentile(allHosts, 99), allHostsMaxMs: Math.max(...allHosts),
      perHostP50Ms: median(perHost), perHostP99Ms: percentile(perHost, 99),
    },
    allHosts,
  };
}

async function memory(ctx: Ctx, baselines: { rss: number; heapUsed: number }[]): Promise<{ figures: SimFigures['memory']; sockets: number }> {
  const samples = await Promise.all(ctx.workers.map(async (w) => {
    w.send({ kind: 'measure-memory' });
    return w.next('memory', PHASE_MS);
  }));
  const rss = samples.reduce((s, m, i) => s + m.sample.rss - baselines[i]!.rss, 0);
  const heap = samples.reduce((s, m, i) => s + m.sample.heapUsed - baselines[i]!.heapUsed, 0);
  return { figures: { rssPerHostKiB: rss / ctx.opts.hosts / 1024, heapPerHostKiB: heap / ctx.opts.hosts / 1024 }, sockets: samples.reduce((s, m) => s + m.sockets, 0) };
}

/** etcd's counters over an idle window: nothing but the hosts' own background traffic runs. */
async function atRest(ctx: Ctx): Promise<{ figures: SimFigures['atRest']; before: Sample; after: Sample }> {
  const before = await scrape(ctx.ports);
  const cpu0 = await cpu(ctx);
  log(`at rest: counting etcd's requests for ${ctx.opts.idleSeconds} s`);
  // A measurement window, not a wait for a condition.
  await new Promise((r) => setTimeout(r, ctx.opts.idleSeconds * 1000));
  const after = await scrape(ctx.ports);
  const cpu1 = await cpu(ctx);
  const minutes = (after.at - before.at) / 60_000;
  const perHostMin = (x: number): number => x / ctx.opts.hosts / minutes;
  const d = (name: string, where: Record<string, string> = {}): number => total(after, name, where) - total(before, name, where);
  const keepAlives = d('grpc_server_msg_received_total', { grpc_method: 'LeaseKeepAlive' });
  return {
    figures: {
      windowSeconds: ctx.opts.idleSeconds,
      unaryRequestsPerHostPerMinute: perHostMin(d('grpc_server_handled_total', { grpc_type: 'unary' })),
      leaseKeepAlivesPerHostPerMinute: perHostMin(keepAlives),
      leaseKeepAlivesPerSecond: keepAlives / (minutes * 60),
      streamMessagesPerHostPerMinute: perHostMin(d('grpc_server_msg_received_total', { grpc_type: 'bidi_stream' })),
      // Every member counts each committed proposal: the mean is the cluster's figure.
      hostCpuMsPerHostPerMinute: (cpu1.hosts - cpu0.hosts) / ctx.opts.hosts / minutes,
      etcdCpuPercentOfOneCore: ((cpu1.etcd - cpu0.etcd) / (after.at - before.at)) * 100,
      etcdCpuPercentOfOneCoreWithoutHosts: NaN,
      raftProposalsPerSecond: d('etcd_server_proposals_committed_total') / ctx.etcd.members.length / (minutes * 60),
    },
    before,
    after,
  };
}

function etcdGauges(s: Sample, members: number, sockets: number): Omit<SimFigures['etcd'], 'revision' | 'etcdRssPerHostKiB'> {
  const open = (method: string): number => total(s, 'grpc_server_started_total', { grpc_method: method }) - total(s, 'grpc_server_handled_total', { grpc_method: method });
  return {
    watchers: total(s, 'etcd_debugging_mvcc_watcher_total'),
    watchStreams: total(s, 'etcd_debugging_mvcc_watch_stream_total'),
    openLeaseKeepAliveStreams: open('LeaseKeepAlive'),
    hostTcpConnections: sockets,
    dbSizeBytes: total(s, 'etcd_mvcc_db_total_size_in_bytes') / members,
    keys: total(s, 'etcd_debugging_mvcc_keys_total') / members,
  };
}

async function simulate(opts: SimOptions, etcd: TestEtcdCluster, workers: Worker[], root: string): Promise<Omit<SimReport, 'date' | 'machine' | 'options'>> {
  const client = new Etcd3({ hosts: etcd.endpoints });
  const observer = await FleetObserver.open(client, GROUP);
  const ctx: Ctx = { opts, etcd, client, observer, workers, ports: etcd.members.map((m) => m.clientPort) };
  try {
    const ids = Array.from({ length: opts.hosts }, (_, i) => `sim-${String(i).padStart(6, '0')}`);
    const defaultsFile = path.join(ROOT, 'rootfs/usr/share/berth/settings.toml');
    split(ids, workers.length).forEach((hostIds, i) => workers[i]!.send({
      kind: 'setup', endpoints: etcd.endpoints, group: GROUP, hostIds, stateRoot: root, defaultsFile, perHostConnections: opts.perHostConnections,
    }));
    const baselines = (await Promise.all(workers.map((w) => w.next('ready', PHASE_MS)))).map((m) => m.baseline);
    // etcd's own cost with no host connected (raft heartbeats every 50 ms in this test cluster): the part of
    // the at-rest CPU figure that does not grow with the fleet.
    const baselineS = opts.quick ? 5 : 10;
    const idle0 = await cpu(ctx);
    await new Promise((r) => setTimeout(r, baselineS * 1000));
    const etcdIdleCpuPercentOfOneCore = ((await cpu(ctx)).etcd - idle0.etcd) / (baselineS * 1000) * 100;
    const etcdRss0 = await processRssBytes(etcdPids(ctx));
    log(`${opts.hosts} hosts ready in ${workers.length} workers; registering`);
    const reg = await registration(ctx);
    log(`all ${opts.hosts} hosts registered in ${reg.allHostsMs.toFixed(0)} ms`);
    const prop = await propagation(ctx);
    const mem = await memory(ctx, baselines);
    // ./connections.ts relies on a private field of etcd3: if an upgrade changed it, the hosts would share
    // connections silently and every per-host figure would flatter the fleet. Refuse to report that.
    if (opts.perHostConnections && mem.sockets < opts.hosts) {
      throw new Error(`only ${mem.sockets} TCP connections to etcd for ${opts.hosts} hosts: the per-host connections of bench/fleet-sim/connections.ts did not take effect (etcd3's internals changed?)`);
    }
    const etcdRssPerHostKiB = ((await processRssBytes(etcdPids(ctx))) - etcdRss0) / opts.hosts / 1024;
    const rest = await atRest(ctx);
    rest.figures.etcdCpuPercentOfOneCoreWithoutHosts = etcdIdleCpuPercentOfOneCore;
    const revision = Number((await client.get(settingsKey(GROUP)).exec()).header.revision);
    const rebootSlots = await measureRebootSlots({ client, group: GROUP, hosts: opts.hosts });
    const fleetCodeWarnings = await stopAll(workers, 60_000);
    return {
      figures: { registration: reg, settingsPropagation: prop.figures, atRest: rest.figures, memory: mem.figures, etcd: { ...etcdGauges(rest.after, etcd.members.length, mem.sockets), revision, etcdRssPerHostKiB } },
      rebootSlots,
      detail: {
        unaryRequestsByMethod: byMethod(rest.before, rest.after, 'grpc_server_handled_total', { grpc_type: 'unary' }),
        streamMessagesByMethod: byMethod(rest.before, rest.after, 'grpc_server_msg_received_total', { grpc_type: 'bidi_stream' }),
        settingsChangeAllHostsMs: prop.allHosts,
        fleetCodeWarnings,
      },
    };
  } finally {
    await observer.close();
    client.close();
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  // Others' work on this machine skews every figure: said in the report.
  const loadAtStart = os.loadavg()[0]!;
  const etcdVersion = (await promisify(execFile)(process.env['ETCD_BIN'] ?? '/usr/bin/etcd', ['--version'])).stdout.split('\n')[0]!.replace(/^etcd Version:\s*/, '');
  const root = await stateRoot();
  let etcd: TestEtcdCluster | undefined;
  const workers: Worker[] = [];
  const cleanup = async (): Promise<void> => {
    await stopAll(workers, 10_000);
    await etcd?.stop();
    await rm(root, { recursive: true, force: true });
  };
  // Ctrl-C or a kill: the etcd members and workers are ours to stop, by PID, before exiting.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping etcd and the workers`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  let result;
  try {
    etcd = await TestEtcdCluster.start(3);
    log(`etcd ${etcdVersion} cluster up: ${etcd.endpoints.join(' ')}`);
    for (let i = 0; i < opts.workers; i++) workers.push(Worker.spawn(i));
    result = await simulate(opts, etcd, workers, root);
  } finally {
    await cleanup();
  }
  const { out, ...options } = opts;
  const report: SimReport = {
    date: new Date().toISOString(),
    machine: { loadAverageAtStart: loadAtStart, loadAverageAtEnd: os.loadavg()[0]!, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, etcd: etcdVersion },
    options,
    ...result,
  };
  console.log(formatReport(report));
  const bad = figureEntries(report.figures).filter(([, v]) => typeof v !== 'number' || !Number.isFinite(v));
  const file = out ?? path.join(ROOT, 'bench/results/fleet-sim.json');
  await mkdir(path.dirname(file), { recursive: true });
  // Two decimals are more than these figures can tell apart.
  await writeFile(file, `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v), 2)}\n`);
  console.log(`figures written to ${path.relative(process.cwd(), file)}`);
  if (bad.length > 0) throw new Error(`figures that are not numbers: ${bad.map(([k, v]) => `${k}=${String(v)}`).join(', ')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`fleet-sim: ${e.message}\n${USAGE}`);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  });
}
