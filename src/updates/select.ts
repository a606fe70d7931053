// Which version a host takes, as Bottlerocket's updog chooses: entries for this host's variant and arch,
// whose wave has reached this host's seed (unless waves are ignored); then, with `version-lock = latest`,
// the newest one newer than the running version; with a pinned version, exactly that one (the only way
// to go back to an older version: a downgrade is never taken unasked).

import { compareVersions, type Manifest, type ManifestUpdate } from './manifest.js';
import { readyAt } from './waves.js';

export interface HostIdentity {
  readonly variant: string;
  readonly arch: string;
  /** The running version. */
  readonly version: string;
}

export interface SelectionPolicy {
  /** `latest` or a version. */
  readonly versionLock: string;
  readonly ignoreWaves: boolean;
  readonly seed: number;
  readonly now: number;
}

export interface Selection {
  /** The version to take, if any. */
  readonly chosen?: ManifestUpdate;
  /** Every version this host could take now (newest first): newer ones, or the pinned one. */
  readonly available: readonly ManifestUpdate[];
  /** Why nothing was chosen, for `update status`; undefined when something was. */
  readonly reason?: string;
}

/**
 * The chosen version with the migrations of every version it skips: a version's migrations take settings from
 * the version published before it, so a host going from 1.0.0 straight to 3.0.0 runs 2.0.0's, then 3.0.0's.
 */
function withSkippedMigrations(mine: readonly ManifestUpdate[], running: string, chosen: ManifestUpdate): ManifestUpdate {
  // A downgrade runs none forward (an older version's migrations lead to it, not from here): the older
  // version undoes the kept migrations of the versions it goes back over, at its start.
  if (compareVersions(chosen.version, running) <= 0) return { ...chosen, migrations: [] };
  const between = mine.filter((u) => compareVersions(u.version, running) > 0 && compareVersions(u.version, chosen.version) <= 0);
  between.sort((a, b) => compareVersions(a.version, b.version));
  return { ...chosen, migrations: between.flatMap((u) => u.migrations) };
}

export function selectUpdate(manifest: Manifest, host: HostIdentity, policy: SelectionPolicy): Selection {
  const mine = manifest.updates
    .filter((u) => u.variant === host.variant && u.arch === host.arch)
    .sort((a, b) => compareVersions(b.version, a.version));
  if (mine.length === 0) return { available: [], reason: `the repository has no versions for variant ${host.variant} (${host.arch})` };
  const ready = (u: ManifestUpdate): boolean => policy.ignoreWaves || (readyAt(u.waves, policy.seed) ?? 0) <= policy.now;
  const waiting = (u: ManifestUpdate): string => {
    const at = readyAt(u.waves, policy.seed);
    return `${u.version} reaches this host's wave (seed ${policy.seed}) at ${new Date(at ?? 0).toISOString()}`;
  };
  if (policy.versionLock !== 'latest') {
    const pinned = mine.find((u) => u.version === policy.versionLock);
    if (!pinned) return { available: [], reason: `updates.version-lock is ${policy.versionLock}, which the repository does not have for variant ${host.variant}` };
    if (pinned.version === host.version) return { available: [], reason: `running the pinned version ${host.version}` };
    if (!ready(pinned)) return { available: [], reason: waiting(pinned) };
    return { chosen: withSkippedMigrations(mine, host.version, pinned), available: [pinned] };
  }
  const newer = mine.filter((u) => compareVersions(u.version, host.version) > 0);
  const available = newer.filter(ready);
  if (available.length > 0) return { chosen: withSkippedMigrations(mine, host.version, available[0]!), available };
  if (newer.length > 0) return { available: [], reason: waiting(newer[newer.length - 1]!) };
  const newest = mine[0]!;
  if (compareVersions(newest.version, host.version) < 0) {
    return {
      available: [],
      reason: `the newest version for variant ${host.variant} is ${newest.version}, older than the running ${host.version}: a downgrade is taken only when updates.version-lock names it`,
    };
  }
  return { available: [], reason: `running the newest version (${host.version})` };
}
