// The update state machine, as Bottlerocket's thar-be-updates has it: idle → (check) available → (prepare:
// download and verify) staged → (activate: installer) ready; `apply` is prepare then activate, `cancel` goes
// one step back (and stops an operation in flight). One operation at a time: a second is refused naming the
// one that runs. Every operation re-reads `updates.*`, so a changed setting applies at the next check. Each
// Bottlerocket command (refresh = check, prepare, activate, deactivate = cancel from ready) leaves its
// outcome in `mostRecentCommand`, persisted, which is what brupop reads (src/apiclient/).

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { UpdatesSettings } from '../settings/families/updates.js';
import { installerStep, UpdateError } from './errors.js';
import type { InstallProgress, UpdateInstaller } from './installer.js';
import type { ManifestUpdate } from './manifest.js';
import type { SlotInfo } from './installer.js';
import { rebootInHalves, type RebootStart } from './reboot.js';
import type { RebootGate, RebootWait } from './reboot-gate.js';
import { RepositoryError } from './repository-error.js';
import type { RepositoryOptions, UpdateRepository } from './repository.js';
import { selectUpdate, type HostIdentity } from './select.js';
import { loadUpdatesState, saveUpdatesState, type CommandResult, type CommandType, type PersistedUpdates, type UpdateState } from './state-file.js';

export type OperationKind = 'check' | 'apply' | 'prepare' | 'activate' | 'cancel' | 'rollback' | 'reboot';
export type { CommandResult, CommandType } from './state-file.js';

export interface UpdateStatus {
  readonly state: UpdateState;
  readonly runningVersion: string;
  readonly availableVersions: readonly string[];
  /** The version `apply` takes (available) or has taken (staged, ready). */
  readonly chosenVersion?: string;
  /** The chosen version's manifest entry, as Bottlerocket's `chosen_update` names it. */
  readonly chosenUpdate?: { readonly arch: string; readonly version: string; readonly variant: string };
  readonly stagedVersion?: string;
  /** The operation running now, with its progress. */
  readonly operation?: { readonly kind: OperationKind; readonly startedAt: string; readonly progress?: InstallProgress };
  readonly lastError?: { readonly operation: string; readonly message: string; readonly at: string };
  /** Why the last check chose nothing (`running the newest version`, a wave's time, a refused downgrade). */
  readonly lastCheckReason?: string;
  /** The last Bottlerocket-named command (refresh, prepare, activate, deactivate) and its outcome. */
  readonly mostRecentCommand?: CommandResult;
}

export interface UpdaterOptions {
  readonly host: HostIdentity;
  /** `updates.*` as of now (re-read for every operation). */
  readonly settings: () => UpdatesSettings;
  readonly installer: UpdateInstaller;
  /** `<stateDir>/updates`: metadata cache, downloads, state.json. */
  readonly dir: string;
  readonly trustedRootFile: string;
  readonly now?: () => number;
  /** Replaces the TUF repository (tests); defaults to UpdateRepository over tuf-js. */
  readonly repository?: (o: RepositoryOptions) => Pick<UpdateRepository, 'manifest' | 'download'>;
  /** Runs `updates.reboot-command` (tests replace it); defaults to /bin/sh -c. */
  readonly reboot?: (command: string) => Promise<void>;
  /** Asked before every reboot (updates.reboot-strategy, ./reboot-gate.ts); default: reboot at once. */
  readonly rebootGate?: RebootGate;
  /** After the download, before the installer (the settings migrations' dry run): a throw ends the apply, nothing written. */
  readonly beforeInstall?: (update: ManifestUpdate, migrations: readonly string[], signal: AbortSignal) => Promise<void>;
}

interface Running {
  readonly kind: OperationKind;
  readonly startedAt: string;
  readonly controller: AbortController;
  progress?: InstallProgress;
  done?: Promise<void>;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class Updater {
  private running: Running | undefined;
  private lastCheckReason: string | undefined;

  private constructor(private readonly o: UpdaterOptions, private s: PersistedUpdates) {}

  static async open(o: UpdaterOptions): Promise<Updater> {
    await mkdir(o.dir, { recursive: true, mode: 0o700 });
    return new Updater(o, await loadUpdatesState(o.dir));
  }

  status(): UpdateStatus {
    const r = this.running;
    return {
      state: this.s.state,
      runningVersion: this.o.host.version,
      availableVersions: this.s.available,
      ...(this.s.chosen ? {
        chosenVersion: this.s.chosen.version,
        chosenUpdate: { arch: this.s.chosen.arch, version: this.s.chosen.version, variant: this.s.chosen.variant },
      } : {}),
      ...(this.s.staged && this.s.chosen ? { stagedVersion: this.s.chosen.version } : {}),
      ...(r ? { operation: { kind: r.kind, startedAt: r.startedAt, ...(r.progress ? { progress: r.progress } : {}) } } : {}),
      ...(this.s.lastError ? { lastError: this.s.lastError } : {}),
      ...(this.lastCheckReason ? { lastCheckReason: this.lastCheckReason } : {}),
      ...(this.s.mostRecentCommand ? { mostRecentCommand: this.s.mostRecentCommand } : {}),
    };
  }

  /** The disk's slots, as the installer sees them; undefined when it cannot say (no boot disk). */
  async slots(): Promise<SlotInfo | undefined> {
    return this.o.installer.slots().catch(() => undefined);
  }

  /** Reads the repository and chooses a version; returns when done. */
  async check(): Promise<UpdateStatus> {
    const op = this.begin('check');
    try {
      await this.guard(op, () => this.command('refresh', op, () => this.doCheck(op.controller.signal)));
    } finally {
      this.end(op);
    }
    return this.status();
  }

  /**
   * Starts taking the chosen version (download + verify, then the installer); returns at once with the
   * operation in `status().operation`. `finished` settles when it ends (for tests and `--wait`).
   */
  async apply(): Promise<{ status: UpdateStatus; finished: Promise<void> }> {
    if (this.s.state === 'idle') {
      throw new UpdateError('state', `nothing to apply: no update is available (${this.lastCheckReason ?? 'run update check first'})`);
    }
    if (this.s.state === 'ready') throw new UpdateError('state', `${this.s.chosen?.version ?? 'the update'} is already ready: it boots next (update cancel to undo)`);
    return this.background('apply', (op) => this.doApply(op));
  }

  /** Starts the download and verification of the chosen version (available or staged → staged); returns at once. */
  async prepare(): Promise<{ status: UpdateStatus; finished: Promise<void> }> {
    this.refuseIfBusy();
    if (this.s.state !== 'available' && this.s.state !== 'staged') {
      throw new UpdateError('state', `nothing to prepare: the update state is ${this.s.state} (prepare takes an available or staged update)`);
    }
    return this.background('prepare', (op) => this.doPrepare(op));
  }

  /** Starts the installer on the staged version (staged → ready: it boots next); returns at once. */
  async activate(): Promise<{ status: UpdateStatus; finished: Promise<void> }> {
    this.refuseIfBusy();
    if (this.s.state !== 'staged') throw new UpdateError('state', `nothing to activate: the update state is ${this.s.state} (activate takes a staged update)`);
    return this.background('activate', (op) => this.doActivate(op));
  }

  /** Bottlerocket's deactivate: ready → staged (the running slot boots next again); refused in any other state. */
  async deactivate(): Promise<UpdateStatus> {
    this.refuseIfBusy();
    if (this.s.state !== 'ready') throw new UpdateError('state', `nothing to deactivate: the update state is ${this.s.state} (deactivate takes a ready update)`);
    return this.cancel();
  }

  /** prepareReboot, then its command at once (a fleet rollout's reboot: nobody waits on an answer). */
  async reboot(o: RebootWait = {}): Promise<void> {
    await (await this.prepareReboot(o)).run();
  }

  /** A reboot: one update operation in two halves, the API's answer between them (./reboot.ts). */
  async prepareReboot(o: RebootWait = {}): Promise<RebootStart> {
    const plan = { from: this.o.host.version, to: this.s.state === 'ready' ? this.s.chosen?.version : undefined };
    const op = this.begin('reboot');
    let ended!: () => void;
    op.done = new Promise((r) => (ended = r));
    const handle = { controller: op.controller, guard: (fn: () => Promise<void>) => this.guard(op, fn), end: () => (this.end(op), ended()) };
    return rebootInHalves(handle, plan, o, { gate: this.o.rebootGate, command: () => this.o.settings().rebootCommand, ...(this.o.reboot ? { run: this.o.reboot } : {}) });
  }

  /** Stops an operation in flight, or goes one state back: ready → staged → available → idle. */
  async cancel(): Promise<UpdateStatus> {
    const r = this.running;
    if (r && r.kind !== 'cancel') {
      r.controller.abort(new UpdateError('cancelled', `update ${r.kind} was cancelled`));
      await r.done;
      return this.status();
    }
    const op = this.begin('cancel');
    try {
      await this.guard(op, async () => {
        switch (this.s.state) {
          case 'idle':
            throw new UpdateError('state', 'nothing to cancel: no update is available, staged or ready');
          case 'ready':
            return this.command('deactivate', op, async () => {
              await installerStep('cancel', () => this.o.installer.deactivate());
              return { ...this.s, state: 'staged' };
            });
          case 'staged':
            await rm(this.downloadDir(), { recursive: true, force: true });
            return this.save({ ...this.s, state: 'available', staged: undefined });
          case 'available':
            return this.save({ ...this.s, state: 'idle', chosen: undefined, available: [] });
        }
      });
    } finally {
      this.end(op);
    }
    return this.status();
  }

  /** Runs `fn` as one update operation (refused while another runs; its failure becomes the last error). */
  async exclusive<T>(kind: OperationKind, fn: () => Promise<T>): Promise<T> {
    const op = this.begin(kind);
    let out: { v: T } | undefined;
    try {
      await this.guard(op, async () => { out = { v: await fn() }; });
    } finally {
      this.end(op);
    }
    return out!.v;
  }

  private background(kind: OperationKind, fn: (op: Running) => Promise<void>): { status: UpdateStatus; finished: Promise<void> } {
    const op = this.begin(kind);
    const finished = this.guard(op, () => fn(op)).finally(() => this.end(op));
    op.done = finished.catch(() => undefined);
    return { status: this.status(), finished };
  }

  private refuseIfBusy(): void {
    const r = this.running;
    if (!r) return;
    const at = r.progress ? `, ${r.progress.phase} ${r.progress.done}/${r.progress.total}` : '';
    const what = ['apply', 'prepare', 'activate'].includes(r.kind) && this.s.chosen ? `update ${r.kind} of ${this.s.chosen.version}` : `update ${r.kind}`;
    throw new UpdateError('busy', `${what} is running (since ${r.startedAt}${at}); one update operation at a time: wait for it${r.kind === 'cancel' ? '' : ' or run update cancel'}`);
  }

  /** Records `type` as the most recent command: Unknown, then Success or Failed (exit 1, the error as stderr),
   * Success in one write with the state `fn` ends in (brupop polls for Ready, then reads the command). */
  private async command(type: CommandType, op: Running, fn: () => Promise<PersistedUpdates>): Promise<void> {
    const record = (cmdStatus: CommandResult['cmdStatus'], stderr = ''): CommandResult => ({
      cmdType: type, cmdStatus, timestamp: new Date(this.now()).toISOString(), exitStatus: cmdStatus === 'Failed' ? 1 : 0, stderr,
    });
    await this.save({ ...this.s, mostRecentCommand: record('Unknown') });
    let next: PersistedUpdates;
    try {
      next = await fn();
    } catch (err) {
      await this.save({ ...this.s, mostRecentCommand: record('Failed', op.controller.signal.aborted ? `update ${op.kind} was cancelled` : message(err)) });
      throw err;
    }
    await this.save({ ...next, mostRecentCommand: record('Success') });
  }

  private begin(kind: OperationKind): Running {
    this.refuseIfBusy();
    const op: Running = { kind, startedAt: new Date(this.now()).toISOString(), controller: new AbortController() };
    this.running = op;
    return op;
  }

  private end(op: Running): void {
    if (this.running === op) this.running = undefined;
  }

  /** Runs `fn`, records its failure as the last error (cancellation included) and rethrows it typed. */
  private async guard(op: Running, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      // Whatever an aborted operation threw (an AbortError from a fetch, the installer's own), it was cancelled.
      const e = op.controller.signal.aborted
        ? new UpdateError('cancelled', `update ${op.kind} was cancelled`)
        : err instanceof UpdateError
          ? err
          : new UpdateError(err instanceof RepositoryError ? 'repository' : 'install', message(err), { cause: err });
      if (e.kind !== 'busy') await this.save({ ...this.s, lastError: { operation: op.kind, message: e.message, at: new Date(this.now()).toISOString() } });
      throw e;
    }
  }

  private async doCheck(signal: AbortSignal): Promise<PersistedUpdates> {
    const settings = this.o.settings();
    if (settings.seed === undefined) throw new UpdateError('config', 'updates.seed is not set (berthd chooses one at its first start)');
    const manifest = await (await this.repository(settings)).manifest(signal);
    const sel = selectUpdate(manifest, this.o.host, {
      versionLock: settings.versionLock, ignoreWaves: settings.ignoreWaves, seed: settings.seed, now: this.now(),
    });
    this.lastCheckReason = sel.reason;
    const available = sel.available.map((u) => u.version);
    if (this.s.state === 'staged' || this.s.state === 'ready') {
      // Bottlerocket keeps a staged or ready update on refresh; the list is news only.
      return { ...this.s, available, lastError: undefined };
    }
    const kept = this.s.mostRecentCommand ? { mostRecentCommand: this.s.mostRecentCommand } : {};
    return sel.chosen ? { state: 'available', chosen: sel.chosen, available, ...kept } : { state: 'idle', available, ...kept };
  }

  private async doApply(op: Running): Promise<void> {
    if (this.s.state === 'available') await this.doPrepare(op);
    await this.doActivate(op);
  }

  private doPrepare(op: Running): Promise<void> {
    return this.command('prepare', op, async () => {
      const chosen = this.s.chosen as ManifestUpdate;
      const signal = op.controller.signal;
      const settings = this.o.settings();
      op.progress = { phase: 'download', done: 0, total: 0 };
      const files = await (await this.repository(settings)).download(chosen, this.downloadDir(), (done, total) => {
        op.progress = { phase: 'download', done, total };
      }, signal);
      signal.throwIfAborted();
      return { ...this.s, state: 'staged', staged: { ...files, migrations: [...files.migrations] } };
    });
  }

  private doActivate(op: Running): Promise<void> {
    return this.command('activate', op, () => this.install(op));
  }

  private async install(op: Running): Promise<PersistedUpdates> {
    const chosen = this.s.chosen as ManifestUpdate;
    const signal = op.controller.signal;
    const staged = this.s.staged!;
    await this.o.beforeInstall?.(chosen, staged.migrations, signal);
    await installerStep(op.kind, () => this.o.installer.install({
      version: chosen.version, variant: chosen.variant, arch: chosen.arch,
      files: { rootImage: staged.rootImage, kernel: staged.kernel, initramfs: staged.initramfs },
      rootHash: chosen.rootHash, hashOffset: chosen.hashOffset,
    }, (p) => { op.progress = p; }, signal));
    return { ...this.s, state: 'ready', lastError: undefined };
  }

  /** tuf-js is loaded on the first check: a host that never checks for updates never holds it in memory. */
  private async repository(settings: UpdatesSettings): Promise<Pick<UpdateRepository, 'manifest' | 'download'>> {
    if (!settings.metadataBaseUrl) throw new UpdateError('config', 'updates.metadata-base-url is not set: no repository to check');
    if (!settings.targetsBaseUrl) throw new UpdateError('config', 'updates.targets-base-url is not set: no repository to download from');
    const ro: RepositoryOptions = {
      metadataBaseUrl: settings.metadataBaseUrl, targetsBaseUrl: settings.targetsBaseUrl,
      trustedRootFile: this.o.trustedRootFile, cacheDir: this.o.dir,
    };
    if (this.o.repository) return this.o.repository(ro);
    const { UpdateRepository } = await import('./repository.js');
    return new UpdateRepository(ro);
  }

  private downloadDir(): string {
    return join(this.o.dir, 'download');
  }

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  private async save(next: PersistedUpdates): Promise<void> {
    this.s = next;
    await saveUpdatesState(this.o.dir, next);
  }
}
