#!/usr/bin/env node
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { parseTomlBounded } from '../util/depth.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import { Berthd, berthVersion, defaultSettingsFile, defaultUnitDirs, type BerthdOptions } from './berthd.js';
import { SdNotify } from './sd-notify.js';
import { compactAfterStartup } from './memory.js';
import { settingsApi, imagesApi, hostApi } from './api-adapters.js';
import { createRebootCoordinator, fleetApi, fleetAwareSettingsApi } from './fleet-wiring.js';
import type { Updater } from '../updates/updater.js';
import { DEFAULT_OS_RELEASE, DEFAULT_TRUSTED_ROOT, ensureUpdateSeed, migrateSettingsForVersion, startUpdates } from './updates.js';

interface CliOptions {
  stateDir?: string;
  runDir?: string;
  unitsDir?: string[];
  containerdSocket?: string;
  managedContainerd?: boolean;
  config?: string;
  namespace?: string;
  settingsDefaults?: string;
  logLevel?: string;
  apiTcp?: string;
  apiCa?: string;
  apiCert?: string;
  apiKey?: string;
  dockerSocket?: string;
  updateTrustedRoot?: string;
  osRelease?: string;
  bootDisk?: string;
  kernelCmdline?: string;
}

/** `--config FILE`: the same options in TOML (`state-dir = "…"`, `units-dir = ["…"]`); flags win. */
async function fromConfigFile(file: string): Promise<CliOptions> {
  const doc = parseTomlBounded(await readFile(file, 'utf8')) as Record<string, unknown>;
  const known: Record<string, keyof CliOptions> = {
    'state-dir': 'stateDir', 'run-dir': 'runDir', 'units-dir': 'unitsDir', 'containerd-socket': 'containerdSocket',
    'managed-containerd': 'managedContainerd', namespace: 'namespace', 'settings-defaults': 'settingsDefaults', 'log-level': 'logLevel',
    'api-tcp': 'apiTcp', 'api-ca': 'apiCa', 'api-cert': 'apiCert', 'api-key': 'apiKey', 'docker-socket': 'dockerSocket',
    'update-trusted-root': 'updateTrustedRoot', 'os-release': 'osRelease', 'boot-disk': 'bootDisk', 'kernel-cmdline': 'kernelCmdline',
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    const key = known[k];
    if (!key) throw new Error(`${file}: ${k}: unknown option`);
    out[key] = v;
  }
  return out as CliOptions;
}

async function main(): Promise<void> {
  const program = new Command('berthd')
    .description('berth host supervisor: runs host, bootstrap and workload containers on containerd')
    .version(berthVersion())
    .option('--state-dir <dir>', 'persistent state (settings, logs, host-container dirs)', undefined)
    .option('--run-dir <dir>', 'runtime dir (API socket, FIFOs)', undefined)
    .option('--units-dir <dir>', 'unit spec directory (repeatable; later ones override by name)', (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .option('--containerd-socket <path>', 'use an existing containerd')
    .option('--managed-containerd', 'start and supervise berth\'s own containerd')
    .option('--config <file>', 'TOML file with these options')
    .option('--namespace <ns>', 'containerd namespace for host and bootstrap units')
    .option('--settings-defaults <file>', 'shipped settings defaults (TOML user-data shape)')
    .option('--log-level <level>', 'pino log level')
    .option('--api-tcp <host:port>', 'also serve the API on TCP with mutual TLS (off by default)')
    .option('--api-ca <file>', 'CA that signs client certificates (with --api-tcp)')
    .option('--api-cert <file>', 'server certificate (with --api-tcp)')
    .option('--api-key <file>', 'server key (with --api-tcp)')
    .option('--docker-socket <path>', 'Docker engine socket for workloads.runtime = "docker" (default /run/docker.sock)')
    .option('--update-trusted-root <file>', `trusted root.json of the update repository (default ${DEFAULT_TRUSTED_ROOT})`)
    .option('--os-release <file>', `where the host's VERSION_ID and VARIANT_ID are read for updates (default ${DEFAULT_OS_RELEASE})`)
    .option('--boot-disk <path>', 'the A/B GPT disk (or disk image file) updates write (default: the disk the running root came from)')
    .option('--kernel-cmdline <file>', 'where the running root slot is read (berth.verity=); default /proc/cmdline, or for a disk image file its next boot');
  program.parse();
  const flags = program.opts<CliOptions>();
  const file = flags.config ? await fromConfigFile(flags.config) : {};
  const o = { ...file, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) } as CliOptions;
  if (o.apiTcp && !(o.apiCa && o.apiCert && o.apiKey)) {
    console.error('berthd: --api-tcp needs --api-ca, --api-cert and --api-key (client certificates are required)');
    process.exit(2);
  }
  if (o.managedContainerd && o.containerdSocket) {
    console.error('berthd: --managed-containerd and --containerd-socket exclude each other');
    process.exit(2);
  }
  const opts: BerthdOptions = {
    stateDir: o.stateDir ?? '/var/lib/berth',
    runDir: o.runDir ?? '/run/berth',
    unitsDirs: o.unitsDir ?? defaultUnitDirs(),
    containerdSocket: o.containerdSocket,
    managedContainerd: o.managedContainerd ?? false,
    namespace: o.namespace ?? 'berth',
    settingsDefaults: o.settingsDefaults ?? defaultSettingsFile(),
    dockerSocket: o.dockerSocket,
  };
  const logger = pino({ level: o.logLevel ?? 'info', base: { pid: process.pid } });
  const notify = new SdNotify();
  // Before the settings store opens: settings shaped for another OS version are migrated to this one.
  await migrateSettingsForVersion({ stateDir: opts.stateDir, osRelease: o.osRelease ?? DEFAULT_OS_RELEASE, fallbackVersion: berthVersion(), settingsDefaults: opts.settingsDefaults, logger });
  const daemon = await Berthd.create(opts, logger);
  let api: ApiServer | undefined;
  let exiting = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    // First: a managed containerd stopped right after us (`npm stop`) must not be started again while we exit.
    daemon.managed?.detach();
    logger.info({ signal }, 'berthd exiting; units keep running');
    await notify.stopping();
    await api?.close(1000).catch(() => undefined);
    await daemon.close();
    notify.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // The unit dirs are read at start-up and on reload only (`systemctl reload berthd` sends SIGHUP), not on
  // every settings commit: a half-written unit file must not take effect because someone set a setting.
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reading the unit dirs again');
    void daemon.reloadUnits().catch((e: unknown) => logger.error({ err: String(e) }, 'unit reload failed'));
  });

  const coordinator = createRebootCoordinator({ store: daemon.settings, stateDir: opts.stateDir, supervisor: daemon.supervisor, member: daemon.fleet, logger });
  let updater: Updater | undefined;
  api = await startApiServer({
    socketPath: daemon.apiSocket,
    supervisor: daemon.supervisor,
    settings: fleetAwareSettingsApi(settingsApi(daemon.settings), daemon.settings, daemon.fleet),
    images: imagesApi(daemon.images, daemon.workloads.images),
    host: hostApi(daemon.client, daemon.selinux, berthVersion()),
    workloads: daemon.workloads.manager,
    fleet: fleetApi(daemon.fleet),
    updates: await startUpdates({
      stateDir: opts.stateDir, settings: daemon.settings, logger, fallbackVersion: berthVersion(), settingsDefaults: opts.settingsDefaults,
      trustedRoot: o.updateTrustedRoot ?? DEFAULT_TRUSTED_ROOT, osRelease: o.osRelease ?? DEFAULT_OS_RELEASE,
      ...(o.bootDisk ? { bootDisk: o.bootDisk } : {}),
      ...(o.kernelCmdline ? { kernelCmdline: o.kernelCmdline } : {}),
      rebootGate: coordinator, versionLock: () => daemon.fleet.rolloutTarget, onUpdater: (u) => (updater = u),
    }),
    tcp: o.apiTcp ? { address: o.apiTcp, caCert: o.apiCa!, serverCert: o.apiCert!, serverKey: o.apiKey! } : undefined,
  });
  logger.info({ socket: daemon.apiSocket, opts }, 'API listening');
  if (api.socketGroup.gid === undefined) {
    // Said once, loudly: on a fresh host this is why berthctl works as root and is refused for everyone else.
    logger.warn({ socket: daemon.apiSocket, group: api.socketGroup.name }, `no "${api.socketGroup.name}" group on this host: the API socket is owned by root:root (0660), so only root can use berthctl; create the group (groupadd --system ${api.socketGroup.name}) and add operators to it, then restart berthd`);
  }
  await daemon.start();
  if (updater) {
    // Units reconciled: the boot after a coordinated update reboot is checked, its slot given back (or kept).
    daemon.fleet.attachRollout({ updater, coordinator, stateDir: opts.stateDir });
    void coordinator.afterBoot(updater.status().runningVersion).catch((e: unknown) => logger.error({ err: String(e) }, 'fleet: boot check failed'));
  }
  await ensureUpdateSeed(daemon.settings, logger).catch((e: unknown) => logger.error({ err: String(e) }, 'choosing updates.seed failed'));
  const status = daemon.supervisor.status();
  await notify.ready(status.message);
  notify.startWatchdog(() => true);
  logger.info({ status: status.message }, 'ready');
  compactAfterStartup();
  let last = status.message;
  const report = (): void => {
    const now = daemon.supervisor.status().message;
    if (now !== last) {
      last = now;
      void notify.status(now);
    }
  };
  void (async () => {
    const ac = new AbortController();
    for await (const _ of daemon.supervisor.events(ac.signal)) report();
  })();
}

main().catch((e: unknown) => {
  console.error(`berthd: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
