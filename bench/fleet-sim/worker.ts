// One worker process of the fleet simulation: many simulated hosts, each the real fleet client code — a
// FleetMember over a real SettingsStore (its own state dir on tmpfs), exactly as berthd wires them — with a
// fixed unit-health summary where berthd has its supervisor. Driven by ./main.ts over IPC (./protocol.ts).

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FleetMember, type FleetLog } from '../../src/fleet/index.js';
import { SettingsStore } from '../../src/settings/index.js';
import { givePerHostConnections, openConnections } from './connections.js';
import type { FromWorker, MemorySample, ToWorker, WorkerSetup } from './protocol.js';

interface SimHost {
  readonly id: string;
  readonly member: FleetMember;
  startedAt: number;
  registeredMs: number | undefined;
  readonly registered: Promise<void>;
  onRegistered: () => void;
}

const hosts: SimHost[] = [];
let setup: WorkerSetup | undefined;
let warnings = 0;
const warningSample: string[] = [];
let registeredReported = false;

function send(msg: FromWorker): void {
  process.send?.(msg);
}

function memory(): MemorySample {
  // --expose-gc (set by the driver): measure live memory, not garbage waiting for a collection.
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

function logFor(host: () => SimHost | undefined): FleetLog {
  return {
    info: (_obj, msg) => {
      const h = host();
      if (h && msg === 'fleet: registered' && h.registeredMs === undefined) {
        h.registeredMs = performance.now() - h.startedAt;
        h.onRegistered();
        checkRegistered();
      }
    },
    warn: (obj, msg) => {
      warnings++;
      if (warningSample.length < 5) warningSample.push(`${msg} ${JSON.stringify(obj)}`);
    },
  };
}

function checkRegistered(): void {
  if (registeredReported || hosts.length === 0 || hosts.some((h) => h.registeredMs === undefined)) return;
  registeredReported = true;
  send({ kind: 'registered', latenciesMs: hosts.map((h) => h.registeredMs!), warnings });
}

async function prepare(s: WorkerSetup): Promise<void> {
  setup = s;
  if (s.perHostConnections) givePerHostConnections();
  const baseline = memory();
  for (const id of s.hostIds) {
    const stateDir = path.join(s.stateRoot, id);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const store = await SettingsStore.open({ stateDir, defaultsFile: s.defaultsFile });
    await store.set({ 'fleet.etcd.endpoints': s.endpoints.join(','), 'fleet.group': s.group, 'fleet.host-id': id });
    let self: SimHost | undefined;
    const member = new FleetMember({
      store,
      stateDir,
      version: '0.1.0',
      health: () => ({ units: 3, running: 3, failed: 0 }),
      log: logFor(() => self),
    });
    let onRegistered = (): void => undefined;
    const registered = new Promise<void>((resolve) => (onRegistered = resolve));
    self = { id, member, startedAt: 0, registeredMs: undefined, registered, onRegistered };
    hosts.push(self);
  }
  send({ kind: 'ready', baseline });
}

/**
 * Every host joins at once (a fleet coming up, or every host re-registering after an etcd outage), or
 * `batch` hosts at a time, each batch once the one before has registered (hosts that do not compete with
 * each other for this machine's CPU, as separate machines would not).
 */
async function start(batch: number): Promise<void> {
  const size = batch > 0 ? batch : hosts.length;
  for (let i = 0; i < hosts.length; i += size) {
    const group = hosts.slice(i, i + size);
    await Promise.all(group.map(async (h) => {
      h.startedAt = performance.now();
      await h.member.start();
      await h.registered;
    }));
  }
  checkRegistered();
}

async function stop(): Promise<void> {
  send({ kind: 'warnings', count: warnings, sample: warningSample });
  await Promise.all(hosts.map((h) => h.member.close()));
  send({ kind: 'stopped' });
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.kind) {
    case 'setup':
      return prepare(msg);
    case 'start':
      return start(msg.batch);
    case 'measure-memory': {
      const ports = (setup?.endpoints ?? []).map((e) => Number(new URL(e).port));
      return send({ kind: 'memory', sample: memory(), sockets: await openConnections(ports) });
    }
    case 'stop':
      return stop();
  }
}

process.on('message', (msg: ToWorker) => {
  handle(msg).catch((err: unknown) => send({ kind: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
// The driver is gone (it exited or was killed): so are we. Nothing here outlives it.
process.on('disconnect', () => process.exit(0));
