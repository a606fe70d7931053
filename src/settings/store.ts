// The settings store: shipped defaults overlaid with committed operator values, changed through validated
// transactions and persisted atomically. The store only records and announces changes (`onCommit`); what to
// restart is the daemon's decision (it re-derives the desired state from the typed family views).

import { mkdir } from 'node:fs/promises';
import type { z } from 'zod';
import { AtomicWriteError } from '../util/atomic-file.js';
import { loadDefaults } from './defaults.js';
import { parseDocument, type DocumentFormat } from './document.js';
import { SettingsError } from './errors.js';
import { isUnder, resolvePrefix } from './keys.js';
import {
  atomicWriter,
  encodeSettingsFile,
  loadSettingsFile,
  settingsDir,
  settingsFilePath,
  type FileWriter,
} from './persistence.js';
import { SerialQueue } from './serial-queue.js';
import { fleetIssues } from './fleet-rules.js';
import { transactionNameProblem } from './names.js';
import {
  applyChanges,
  changedKeys,
  completenessIssues,
  overlay,
  pathOf,
  instanceIssues,
  sizeIssues,
  type SettingsMap,
} from './state.js';
import { nestEntries, type SettingsTree } from './tree.js';
import { checkChanges, SETTINGS_MAX_BYTES, SETTINGS_MAX_KEYS, type ChangeMap, type StagedChange } from './validate.js';
import type { SettingValue } from './values.js';
import type { BootstrapContainerSettings, HostContainerSettings } from './families/index.js';
import { bootstrapContainersOf, hostContainersOf, policyOf, readFamily, type PolicySettings } from './views.js';
import type { SettingsFamily } from './model.js';

export interface SettingsStoreOptions {
  /** berth's state directory; the store keeps `<stateDir>/settings/settings.json`. */
  readonly stateDir: string;
  /** The shipped defaults, e.g. /usr/share/berth/settings.toml. */
  readonly defaultsFile: string;
  /** Replaces the atomic file writer; for fault injection in tests. */
  readonly writer?: FileWriter;
}

export interface CommitResult {
  /** Commit counter after this commit (persisted). */
  readonly generation: number;
  /** Dotted keys whose effective value changed (added, removed or modified), sorted. */
  readonly changedKeys: readonly string[];
  /** Keys the commit set, changed or not (setting a host container's `source` again retries its rollout). */
  readonly assignedKeys?: readonly string[];
  /** Set only if the commit took effect but its durability could not be confirmed (see commitChanges). */
  readonly warning?: string;
}

export type CommitListener = (result: CommitResult) => void;

/** Named transactions open at once (each is memory a client fills). */
export const MAX_TRANSACTIONS = 64;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class SettingsStore {
  private readonly transactions = new Map<string, StagedChange[]>();
  private readonly listeners = new Set<CommitListener>();
  private readonly queue = new SerialQueue();
  private readonly defaultPaths: ReadonlyArray<readonly string[]>;

  private constructor(
    private readonly file: string,
    private readonly defaults: SettingsMap,
    private operator: SettingsMap,
    private effective: SettingsMap,
    private committedGeneration: number,
    private readonly writer: FileWriter,
  ) {
    this.defaultPaths = [...defaults.keys()].map(pathOf);
  }

  static async open(options: SettingsStoreOptions): Promise<SettingsStore> {
    const defaults = await loadDefaults(options.defaultsFile);
    const file = settingsFilePath(options.stateDir);
    await mkdir(settingsDir(options.stateDir), { recursive: true, mode: 0o700 });
    const persisted = await loadSettingsFile(file);
    const effective = overlay(defaults, persisted.values);
    // Possible only if an upgrade dropped a default an operator relied on; refuse rather than guess.
    const issues = completenessIssues(effective);
    if (issues.length > 0) {
      throw new SettingsError('load', issues, `${file}: ${issues.map((i) => `${i.key}: ${i.message}`).join('\n')}`);
    }
    return new SettingsStore(file, defaults, persisted.values, effective, persisted.generation, options.writer ?? atomicWriter);
  }

  /** Number of commits since the store was created. */
  get generation(): number {
    return this.committedGeneration;
  }

  // ---- transactions ------------------------------------------------------------------------------------

  /**
   * Validates `changes` and appends them to transaction `tx` (created on first use). If any change is
   * invalid nothing is staged and a SettingsError lists every problem. Returns the transaction's changes.
   */
  stage(tx: string, changes: ChangeMap): readonly StagedChange[] {
    this.checkTransactionName(tx);
    const staged = this.validate(changes);
    const before = this.transactions.get(tx);
    // Staging is memory a client fills and `pending` returns in one message: bounded like the state itself.
    if (before === undefined && staged.length > 0 && this.transactions.size >= MAX_TRANSACTIONS) {
      throw new SettingsError('invalid', [{ key: 'tx', message: `at most ${MAX_TRANSACTIONS} open transactions; commit or discard one first` }]);
    }
    const next = [...(before ?? []), ...staged];
    let bytes = 0;
    for (const c of next) bytes += c.key.length + (c.op === 'set' ? Buffer.byteLength(JSON.stringify(c.value), 'utf8') : 0);
    if (next.length > SETTINGS_MAX_KEYS || bytes > SETTINGS_MAX_BYTES) {
      throw new SettingsError('invalid', [{
        key: 'tx',
        message: `a transaction holds at most ${SETTINGS_MAX_KEYS} changes and ${SETTINGS_MAX_BYTES} bytes; this would make it ${next.length} changes, ${bytes} bytes`,
      }]);
    }
    if (staged.length > 0) this.transactions.set(tx, next);
    return this.pending(tx);
  }

  /** Staged changes of `tx`, in order; empty for an unknown transaction. */
  pending(tx: string): readonly StagedChange[] {
    return [...(this.transactions.get(tx) ?? [])];
  }

  /** Names of transactions with staged changes. */
  transactionNames(): string[] {
    return [...this.transactions.keys()].sort();
  }

  /** Drops a transaction; returns whether it existed. */
  discard(tx: string): boolean {
    return this.transactions.delete(tx);
  }

  /**
   * Applies `tx` atomically. Rejects with code `empty` if nothing is staged, `invalid` if the resulting
   * state breaks a whole-state rule (the transaction stays staged so it can be fixed), `persist` if it
   * could not be saved (nothing changed, the transaction stays staged).
   */
  commit(tx: string): Promise<CommitResult> {
    return this.queue.run(async () => {
      const changes = this.transactions.get(tx);
      if (!changes || changes.length === 0) {
        throw new SettingsError('empty', [], `transaction ${JSON.stringify(tx)} has no staged changes`);
      }
      this.transactions.delete(tx);
      try {
        return await this.commitChanges(changes);
      } catch (err) {
        // Put it back ahead of anything staged while the commit ran.
        this.transactions.set(tx, [...changes, ...(this.transactions.get(tx) ?? [])]);
        throw err;
      }
    });
  }

  /** Stage and commit in one step (a private transaction): all of `changes` or none. */
  async set(changes: ChangeMap): Promise<CommitResult> {
    const staged = this.validate(changes);
    if (staged.length === 0) throw new SettingsError('empty', [], 'no changes given');
    return this.queue.run(() => this.commitChanges(staged));
  }

  /** Removes keys (reverting to defaults) or whole prefixes such as `host-containers.foo`. */
  unset(keys: readonly string[]): Promise<CommitResult> {
    return this.set(Object.fromEntries(keys.map((key) => [key, null])));
  }

  /** Applies a user-data document (`{"settings": {…}}` or `[settings.…]` TOML): all entries or none. */
  async apply(document: string, format: DocumentFormat): Promise<CommitResult> {
    const staged = this.validate(parseDocument(document, format));
    if (staged.length === 0) throw new SettingsError('empty', [], 'document contains no settings');
    return this.queue.run(() => this.commitChanges(staged));
  }

  /** Called after every commit, in commit order. Returns an unsubscribe function. */
  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // ---- reading -----------------------------------------------------------------------------------------

  /**
   * Effective values under `prefix` (dotted, on key boundaries, e.g. `host-containers.admin`), nested from
   * the root as in a user-data document. Unknown or partial-segment prefixes give `{}`.
   */
  get(prefix?: string): SettingsTree {
    return nestEntries(this.select(prefix).map(([key, value]) => [pathOf(key), value] as const));
  }

  /** Effective values under `prefix` as `{ dottedKey: value }`. */
  getFlat(prefix?: string): Record<string, SettingValue> {
    return Object.fromEntries(this.select(prefix).map(([key, value]) => [key, Array.isArray(value) ? [...value] : value]));
  }

  /** One family's effective values, typed by its schema (e.g. `store.family(imagesFamily).pullTimeoutMs`). */
  family<S extends z.ZodType>(f: SettingsFamily<S>): z.output<S> {
    return readFamily(this.effective, f);
  }

  hostContainers(): Map<string, HostContainerSettings> {
    return hostContainersOf(this.effective);
  }

  bootstrapContainers(): Map<string, BootstrapContainerSettings> {
    return bootstrapContainersOf(this.effective);
  }

  policy(): PolicySettings {
    return policyOf(this.effective);
  }

  // ---- internals ---------------------------------------------------------------------------------------

  private select(prefix: string | undefined): Array<[string, SettingValue]> {
    const all = [...this.effective];
    if (prefix === undefined || prefix === '' || prefix === 'settings') return all;
    const resolution = resolvePrefix(prefix);
    if (!resolution.ok) return [];
    return all.filter(([key]) => isUnder(pathOf(key), resolution.value.path));
  }

  private checkTransactionName(tx: string): void {
    if (transactionNameProblem(tx) !== undefined) {
      throw new SettingsError('invalid', [], `invalid transaction name ${JSON.stringify(tx)}: use 1-64 of A-Z a-z 0-9 . _ -`);
    }
  }

  private validate(changes: ChangeMap): StagedChange[] {
    const checked = checkChanges(changes, this.defaultPaths);
    if (!checked.ok) throw new SettingsError('invalid', checked.issues);
    return checked.value;
  }

  /**
   * Computes and checks the complete next state before touching the disk, then writes it, and only after
   * the write succeeded replaces the in-memory state — so a failed write changes nothing anywhere.
   * Always runs inside the queue.
   */
  private async commitChanges(changes: readonly StagedChange[]): Promise<CommitResult> {
    const operator = applyChanges(this.operator, changes);
    const effective = overlay(this.defaults, operator);
    const issues = [...sizeIssues(operator), ...instanceIssues(effective), ...completenessIssues(effective), ...fleetIssues(effective)];
    if (issues.length > 0) throw new SettingsError('invalid', issues);

    // Nothing stored changes (every value given is the one already set): nothing to write, no new generation.
    // Listeners still hear of the commit, so a repeated `set` acts as it always did; it just skips the
    // write and its two fsyncs, the bulk of a no-op commit's ~8 ms (issue 16: `berthctl set` one-shots).
    const assignedKeys = changes.flatMap((c) => (c.op === 'set' ? [c.key] : []));
    if (changedKeys(this.operator, operator).length === 0) {
      const result: CommitResult = { generation: this.committedGeneration, changedKeys: [], assignedKeys };
      this.notify(result);
      return result;
    }
    const generation = this.committedGeneration + 1;
    let warning: string | undefined;
    try {
      await this.writer(this.file, encodeSettingsFile({ generation, values: operator }));
    } catch (err) {
      warning = await this.recoverFailedWrite(err);
    }
    const keys = changedKeys(this.effective, effective);
    const result: CommitResult = {
      generation,
      changedKeys: keys,
      assignedKeys,
      ...(warning !== undefined ? { warning } : {}),
    };
    this.operator = operator;
    this.effective = effective;
    this.committedGeneration = generation;
    this.notify(result);
    return result;
  }

  /**
   * Throws when the old state is what is on disk (the normal case). Returns a warning only in the corner
   * where the new file became visible, its directory fsync failed and restoring the old file failed too:
   * the disk then shows the new state, and memory must follow it.
   */
  private async recoverFailedWrite(err: unknown): Promise<string> {
    if (!(err instanceof AtomicWriteError && err.replaced)) {
      throw new SettingsError('persist', [], `settings not saved, nothing changed: ${message(err)}`, { cause: err });
    }
    try {
      await this.writer(this.file, encodeSettingsFile({ generation: this.committedGeneration, values: this.operator }));
    } catch (rollbackErr) {
      return `settings committed, but durability is unconfirmed: ${message(err)}; restoring failed: ${message(rollbackErr)}`;
    }
    throw new SettingsError('persist', [], `settings not saved, previous settings restored: ${message(err)}`, { cause: err });
  }

  private notify(result: CommitResult): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(result);
      } catch (err) {
        // A broken subscriber must not turn a successful commit into a failure for the caller.
        process.emitWarning(`settings onCommit listener failed: ${message(err)}`);
      }
    }
  }
}
