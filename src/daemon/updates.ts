// berthd's updater wiring: the host's identity (variant, version) from os-release, the seed chosen once and
// kept in the settings store, and the installer: the A/B disk named by --boot-disk, or the disk the running
// root came from; on a host with neither (a development machine) the placeholder that refuses with
// "no boot disk", so check/status work and apply says why it cannot.

import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { UpdatesApi } from '../api/updates-service.js';
import type { SettingsStore } from '../settings/index.js';
import { updatesFamily } from '../settings/families/updates.js';
import { bootDiskInstaller, runningBootDisk } from '../updates/boot-disk.js';
import { NoBootDiskInstaller, type UpdateInstaller } from '../updates/installer.js';
import { SEED_COUNT } from '../updates/manifest.js';
import { partitionsOf } from '../updates/partitions.js';
import type { RebootGate } from '../updates/reboot-gate.js';
import { Updater, type UpdateStatus } from '../updates/updater.js';
import { migrateSettingsAtStart, type StartMigration } from '../updates/migrations/boot.js';
import { dryRunAndKeep } from '../updates/migrations/dry-run.js';
import { rollbackOnDemand } from '../updates/rollback.js';
import { loadLastRollback } from '../updates/rollback-record.js';
import { settleTakenUpdate } from '../updates/after-boot.js';

type UpdateStatusInfo = Awaited<ReturnType<UpdatesApi['check']>>;

export const DEFAULT_TRUSTED_ROOT = '/usr/share/berth/root.json';
export const DEFAULT_OS_RELEASE = '/etc/os-release';

export interface UpdatesWiring {
  readonly stateDir: string;
  readonly settings: SettingsStore;
  readonly trustedRoot: string;
  readonly osRelease: string;
  /** The version berthd reports when os-release has no VERSION_ID (a development machine). */
  readonly fallbackVersion: string;
  readonly logger: Logger;
  readonly installer?: UpdateInstaller;
  /** `--boot-disk`: the disk (or disk image file) to update; default: the running root's disk, if it is one. */
  readonly bootDisk?: string;
  /** `--kernel-cmdline`: where the running slot is read (a test's stand-in for a booted host's /proc/cmdline). */
  readonly kernelCmdline?: string;
  /** updates.reboot-strategy's gate (src/fleet/reboot-coordinator.ts); default: reboot at once. */
  readonly rebootGate?: RebootGate;
  /** A fleet rollout's target version, which wins over updates.version-lock while set. */
  readonly versionLock?: () => string | undefined;
  /** Receives the updater itself (the fleet rollout drives it). */
  readonly onUpdater?: (updater: Updater) => void;
  /** The shipped settings defaults: a migration's dry run checks what the settings store checks when it opens. */
  readonly settingsDefaults?: string;
}

async function chooseInstaller(o: UpdatesWiring): Promise<UpdateInstaller> {
  if (o.installer) return o.installer;
  const disk = o.bootDisk ?? (await runningBootDisk(o.kernelCmdline));
  if (!disk) return new NoBootDiskInstaller();
  o.logger.info({ disk }, 'updates write the A/B slots of this disk');
  return bootDiskInstaller({ disk, stateDir: path.join(o.stateDir, 'updates', 'disk'), ...(o.kernelCmdline ? { cmdlinePath: o.kernelCmdline } : {}) });
}

/** VERSION_ID, VARIANT_ID, PRETTY_NAME and BUILD_ID of an os-release file; absent file or keys → undefined. */
export async function readOsRelease(file: string): Promise<{ version?: string; variant?: string; prettyName?: string; buildId?: string }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const get = (key: string): string | undefined => {
    const m = new RegExp(`^${key}=(?:"([^"]*)"|'([^']*)'|(\\S*))\\s*$`, 'm').exec(text);
    return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
  };
  // Only a berth image's VERSION_ID (MAJOR.MINOR.PATCH) is a version updates compare; a development
  // machine's ("12" on Debian) is not, and berthd then reports its own package version.
  const version = /^\d+\.\d+\.\d+$/.test(get('VERSION_ID') ?? '') ? get('VERSION_ID') : undefined;
  const variant = get('VARIANT_ID');
  const prettyName = get('PRETTY_NAME');
  const buildId = get('BUILD_ID');
  return { ...(version ? { version } : {}), ...(variant ? { variant } : {}), ...(prettyName ? { prettyName } : {}), ...(buildId ? { buildId } : {}) };
}

/**
 * Once per host, like Bottlerocket's first boot: the seed decides this host's place in every rollout. A
 * settings commit (it reconciles the units), so berthd calls it after its first reconcile, not before.
 */
export async function ensureUpdateSeed(settings: SettingsStore, logger: Logger): Promise<number> {
  const current = settings.family(updatesFamily).seed;
  if (current !== undefined) return current;
  const seed = randomInt(SEED_COUNT);
  await settings.set({ 'updates.seed': String(seed) });
  logger.info({ seed }, 'updates.seed chosen');
  return seed;
}

/**
 * Before the settings store opens: the settings are brought to the running version's shape (settings
 * migrations kept by the updater, forward after an update, backward after a rollback). A failure is berthd's
 * start failing, naming the migration and key; settings.json is then as it was.
 */
export async function migrateSettingsForVersion(o: { stateDir: string; osRelease: string; fallbackVersion: string; settingsDefaults: string; logger: Logger }): Promise<StartMigration> {
  const runningVersion = (await readOsRelease(o.osRelease)).version ?? o.fallbackVersion;
  const r = await migrateSettingsAtStart({ stateDir: o.stateDir, runningVersion, defaultsFile: o.settingsDefaults });
  if (r.action !== 'none') o.logger.info({ ...r }, `settings: ${r.action === 'up' || r.action === 'down' ? `migrated ${r.action} from ${r.from} to ${r.to}` : r.action}`);
  return r;
}

export async function startUpdates(o: UpdatesWiring): Promise<UpdatesApi> {
  const os = await readOsRelease(o.osRelease);
  const host = { variant: os.variant ?? 'default', arch: process.arch === 'arm64' ? 'aarch64' : 'x86_64', version: os.version ?? o.fallbackVersion };
  const installer = await chooseInstaller(o);
  if (await settleTakenUpdate(path.join(o.stateDir, 'updates'), host.version)) o.logger.info({ version: host.version }, 'the update to this version was taken: updates are idle');
  const updater = await Updater.open({
    host,
    settings: () => {
      const s = o.settings.family(updatesFamily);
      const lock = o.versionLock?.();
      return lock === undefined ? s : { ...s, versionLock: lock };
    },
    installer,
    dir: path.join(o.stateDir, 'updates'),
    trustedRootFile: o.trustedRoot,
    ...(o.rebootGate ? { rebootGate: o.rebootGate } : {}),
    beforeInstall: async (update, migrations) => {
      const r = await dryRunAndKeep({
        stateDir: o.stateDir, version: update.version, files: migrations, runningVersion: host.version, ...(o.settingsDefaults ? { defaultsFile: o.settingsDefaults } : {}),
      });
      if (r.migrations.length > 0) o.logger.info({ version: update.version, ...r }, 'settings migrations passed their dry run');
    },
  });
  o.onUpdater?.(updater);
  let lastRollback = await loadLastRollback(o.stateDir);
  o.logger.info({ host, trustedRoot: o.trustedRoot }, 'updater ready');
  const hostOs = { variant: host.variant, arch: host.arch, prettyName: os.prettyName ?? `berth ${host.version}`, buildId: os.buildId ?? '' };
  // Every answer carries the host's os-release and the disk's slots (Bottlerocket's /os and partitions).
  // The slots change only when the installer runs, which every time leaves a new most recent command: read
  // them again only then (reading them spawns mtools; `update apply` polls the status four times a second).
  let cached: { key: string; slots: ReturnType<Updater['slots']> } | undefined;
  const full = async (s: UpdateStatus): Promise<UpdateStatusInfo> => {
    const c = s.mostRecentCommand;
    const key = `${s.state}|${c?.cmdType}|${c?.cmdStatus}|${c?.timestamp}`;
    if (cached?.key !== key) cached = { key, slots: updater.slots() };
    const slots = await cached.slots;
    const parts = slots ? partitionsOf(slots, host, s.chosenUpdate) : undefined;
    return { ...s, os: hostOs, ...(parts ? { activePartition: parts.active, stagingPartition: parts.staging } : {}), ...(lastRollback ? { lastRollback } : {}) };
  };
  const background = async (what: string, start: () => Promise<{ status: UpdateStatus; finished: Promise<void> }>): Promise<UpdateStatusInfo> => {
    const { status, finished } = await start();
    finished.then(
      () => o.logger.info({ version: updater.status().chosenVersion, state: updater.status().state }, `update ${what} done`),
      (err: unknown) => o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, `update ${what} failed`),
    );
    return full(status);
  };
  return {
    check: async () => full(await updater.check()),
    apply: () => background('apply', () => updater.apply()),
    prepare: () => background('prepare', () => updater.prepare()),
    activate: () => background('activate', () => updater.activate()),
    cancel: async () => full(await updater.cancel()),
    deactivate: async () => full(await updater.deactivate()),
    status: () => full(updater.status()),
    rollback: async () => {
      lastRollback = await rollbackOnDemand({ updater, installer, stateDir: o.stateDir });
      o.logger.warn({ ...lastRollback }, 'update rollback: the previous version boots next');
      cached = undefined;
      return full(updater.status());
    },
    reboot: async ({ waitMs, signal }) => {
      const r = await updater.prepareReboot({ maxWaitMs: waitMs, ...(signal ? { signal } : {}) });
      return {
        message: r.message,
        ...(r.to !== undefined ? { toVersion: r.to } : {}),
        run: async () => {
          o.logger.warn({ command: o.settings.family(updatesFamily).rebootCommand, to: r.to }, 'rebooting: running updates.reboot-command (answered first)');
          await r.run().catch((err: unknown) => o.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'the reboot failed: the host did not go down'));
        },
      };
    },
  };
}
