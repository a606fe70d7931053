import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ContainerdClient } from '../containerd/client.js';
import { ContainerdRuntime, containerdRuntimeDirs } from '../runtime/containerd-runtime.js';
import { LogStore } from '../supervisor/log-store.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { loadUnits, DEFAULT_UNIT_DIRS, formatUnitError } from '../units/index.js';
import { ociRuntimeFamily, SettingsStore } from '../settings/index.js';
import { specContextFactory, specPlanner } from '../ocispec/context.js';
import type { SpecPlan } from '../ocispec/plan.js';
import type { UnitSpec } from '../units/types.js';
import { desiredState, type DesiredState } from '../desired/index.js';
import { detectSelinux, type SelinuxState } from './selinux.js';
import { bootstrapMarkers } from './bootstrap-markers.js';
import { ImageService } from '../images/image-service.js';
import { ManagedContainerd } from './managed-containerd.js';
import { hostCapabilities } from './capabilities.js';
import { createWorkloads, type Workloads } from '../workloads/wiring.js';
import { McsRegistry } from './mcs-registry.js';
import type { FleetMember } from '../fleet/index.js';
import { createFleetMember } from './fleet-wiring.js';

export interface BerthdOptions {
  stateDir: string;
  runDir: string;
  unitsDirs: string[];
  containerdSocket?: string;
  managedContainerd: boolean;
  namespace: string;
  settingsDefaults: string;
  /** Docker engine socket, used when workloads.runtime = "docker". */
  dockerSocket?: string;
}

/** The package root (for the embedded defaults under rootfs/ when berth is not installed on a host). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && dir !== '/') dir = path.dirname(dir);
  return dir;
}

export function berthVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Installed paths when present, else the copies shipped in the repository's rootfs/. */
export function defaultUnitDirs(): string[] {
  const installed = DEFAULT_UNIT_DIRS.filter((d) => existsSync(d));
  return installed.length > 0 ? [...DEFAULT_UNIT_DIRS] : [path.join(packageRoot(), 'rootfs/usr/share/berth/units'), '/etc/berth/units.d'];
}
export function defaultSettingsFile(): string {
  const installed = '/usr/share/berth/settings.toml';
  return existsSync(installed) ? installed : path.join(packageRoot(), 'rootfs/usr/share/berth/settings.toml');
}

/**
 * berthd's parts, wired: containerd (managed or given), settings, units, the supervisor. The API server
 * and signals are attached by main.ts.
 */
export class Berthd {
  readonly apiSocket: string;
  /** The unit dirs as last read (at start-up, and on reload: SIGHUP / `systemctl reload berthd`). */
  private loadedUnits: ReadonlyMap<string, UnitSpec> = new Map();
  private lastDesired: DesiredState | undefined;
  /** Membership of an etcd fleet (fleet.* settings); idle while those are unset. */
  fleet!: FleetMember;
  private readonly fleetEvents = new AbortController();
  private constructor(
    readonly opts: BerthdOptions,
    readonly logger: Logger,
    readonly client: ContainerdClient,
    readonly settings: SettingsStore,
    readonly supervisor: Supervisor,
    readonly images: ImageService,
    readonly selinux: SelinuxState,
    readonly managed: ManagedContainerd | undefined,
    private readonly logs: LogStore,
    readonly workloads: Workloads,
    private readonly plan: (unit: UnitSpec) => SpecPlan,
  ) {
    this.apiSocket = path.join(opts.runDir, 'api.sock');
  }

  static async create(opts: BerthdOptions, logger: Logger): Promise<Berthd> {
    await mkdir(opts.stateDir, { recursive: true, mode: 0o711 });
    await mkdir(opts.runDir, { recursive: true, mode: 0o755 });
    const selinux = await detectSelinux();
    logger.info({ selinux }, 'SELinux state');

    let managed: ManagedContainerd | undefined;
    let socket = opts.containerdSocket ?? '/run/containerd/containerd.sock';
    if (opts.managedContainerd) {
      managed = new ManagedContainerd(opts.stateDir, opts.runDir, logger);
      await managed.ensureRunning();
      socket = managed.paths.socket;
    }
    const client = ContainerdClient.connect(socket, opts.namespace);
    const settings = await SettingsStore.open({ stateDir: opts.stateDir, defaultsFile: opts.settingsDefaults });
    const logs = new LogStore(path.join(opts.stateDir, 'logs'), {
      onWriteError: (unit, err) => logger.warn({ unit, err: err.message }, 'unit log write failed; lines dropped until it works again'),
    });
    const images = new ImageService(client, opts.namespace, path.join(opts.stateDir, 'images'), () => settings.policy());
    const runtime = new ContainerdRuntime(client, opts.namespace, containerdRuntimeDirs(opts.runDir), logs, images, () => settings.family(ociRuntimeFamily).binary);
    const apiSocket = path.join(opts.runDir, 'api.sock');
    const caps = hostCapabilities();
    const absentHostPaths = ['/lib/modules'].filter((p) => !existsSync(p));
    const mcs = new McsRegistry();
    const plan = specPlanner(specContextFactory(
      { namespace: opts.namespace, stateDir: opts.stateDir, runDir: opts.runDir, apiSocketPath: apiSocket, selinuxActive: selinux.active, hostCapabilities: caps, absentHostPaths },
      () => {
        const policy = settings.policy();
        return { selinuxMode: policy.selinuxMode, hostPathAllowList: policy.workloads.hostPathAllowList };
      },
      (unit) => (unit.class === 'workload' ? mcs.pairFor(unit.name) : undefined),
    ));

    const supervisor = new Supervisor({
      runtime,
      logs,
      logger,
      bootstrapMarkers: bootstrapMarkers(opts.stateDir, opts.runDir),
      rolloutDir: path.join(opts.stateDir, 'rollouts'),
      onRuntimeDisconnected: managed ? () => void managed.ensureRunning().catch((e: unknown) => logger.error({ err: String(e) }, 'managed containerd restart failed')) : undefined,
    });
    const workloads = await createWorkloads({
      stateDir: opts.stateDir, runDir: opts.runDir, apiSocket, logger, settings, selinuxActive: selinux.active,
      hostCapabilities: caps, containerd: client, dockerSocket: opts.dockerSocket,
    });
    const daemon = new Berthd(opts, logger, client, settings, supervisor, images, selinux, managed, logs, workloads, plan);
    daemon.fleet = createFleetMember({ store: settings, stateDir: opts.stateDir, version: berthVersion(), supervisor, logger });
    settings.onCommit((r) => {
      logger.info({ changed: r.changedKeys }, 'settings committed');
      // `host-containers.NAME.source` (or `bootstrap-containers.…`) set again, unchanged: retry that unit's rolled-back rollout.
      const retry = new Set((r.assignedKeys ?? []).flatMap((k) => /^(?:host|bootstrap)-containers\.([^.]+)\.source$/.exec(k)?.slice(1) ?? []));
      void daemon.reconcile(retry).catch((e: unknown) => logger.error({ err: String(e) }, 'reconcile after commit failed'));
    });
    return daemon;
  }

  /** Read the unit dirs again (start-up, SIGHUP) and apply what they now say. */
  async reloadUnits(): Promise<void> {
    const loaded = await loadUnits(this.opts.unitsDirs);
    for (const e of loaded.errors) this.logger.error({ error: formatUnitError(e) }, 'unit spec rejected');
    this.loadedUnits = loaded.units;
    await this.reconcile();
  }

  /** The units last read and the settings of now → a planned desired state → the supervisor. */
  async reconcile(retry?: ReadonlySet<string>): Promise<void> {
    const desired = desiredState(this.loadedUnits, { hostContainers: this.settings.hostContainers(), bootstrapContainers: this.settings.bootstrapContainers() }, this.plan, this.lastDesired);
    this.lastDesired = desired;
    for (const e of desired.errors) this.logger.error({ error: e }, 'settings for a unit rejected');
    // Said when the unit changes (or first appears), not again at every commit that leaves it as it was.
    for (const r of desired.refused) if (desired.changed.includes(r.unit)) this.logger.error({ unit: r.unit, error: r.reason }, 'unit breaks a host rule; it will not start');
    if (desired.changed.length > 0) this.logger.info({ units: desired.changed }, 'desired state changed');
    await this.supervisor.setDesired(desired.units, retry);
  }

  /** Load desired state, adopt, bootstrap, start. Resolves when settled (the moment for READY=1). */
  async start(): Promise<void> {
    await this.client.createNamespace(this.opts.namespace).catch(() => undefined);
    await this.reloadUnits();
    await this.supervisor.run();
    await this.workloads.manager.start();
    await this.fleet.start();
    // The host record carries the units' health: every unit event may change it (the member compares).
    void (async () => {
      for await (const _ of this.supervisor.events(this.fleetEvents.signal)) this.fleet.unitsChanged();
    })().catch(() => undefined);
  }

  /** berthd is exiting: stop watching, leave every unit (and the managed containerd) running. */
  async close(): Promise<void> {
    this.fleetEvents.abort();
    await this.fleet.close().catch((e: unknown) => this.logger.warn({ err: String(e) }, 'fleet close failed'));
    this.supervisor.close();
    await this.workloads.close();
    this.managed?.detach();
    await this.logs.close();
    this.client.close();
  }
}
