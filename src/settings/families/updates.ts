// updates.*: where a host looks for new versions of itself and which one it may take (src/updates/ reads it).
// Names and meanings are Bottlerocket's (metadata-base-url, targets-base-url, version-lock, ignore-waves, seed).

import { z } from 'zod';
import { family, settingMeta } from '../model.js';
import { containerNameProblem } from '../names.js';
import { booleanValue, duration, enumValue, listValue, stringValue } from '../values.js';

/** A repository base URL: http(s):// or file:// (a repository on a local disk), no credentials. */
export function repositoryUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an http://, https:// or file:// URL';
  }
  if (/\s/.test(text) || !['http:', 'https:', 'file:'].includes(url.protocol)) return 'expected an http://, https:// or file:// URL';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment (file names are appended to it)';
  return undefined;
}

export function versionLockProblem(text: string): string | undefined {
  if (text === 'latest' || /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/.test(text)) return undefined;
  return 'expected latest or a version MAJOR.MINOR.PATCH (e.g. 1.4.0)';
}

export const SEED_MAX = 2047;

export function seedProblem(text: string): string | undefined {
  return /^(0|[1-9]\d{0,3})$/.test(text) && Number(text) <= SEED_MAX ? undefined : `expected a whole number from 0 to ${SEED_MAX}`;
}

export const REBOOT_STRATEGIES = ['immediate', 'etcd', 'fleetlock'] as const;

/** A FleetLock server's base URL (`<url>/v1/pre-reboot`): http(s)://, no credentials, query or fragment. */
export function fleetlockUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an http:// or https:// URL';
  }
  if (/\s/.test(text) || !['http:', 'https:'].includes(url.protocol)) return 'expected an http:// or https:// URL';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment (/v1/pre-reboot is appended to it)';
  return undefined;
}

export const updates = z.object({
  metadataBaseUrl: stringValue('http(s):// or file:// URL', repositoryUrlProblem).optional().register(settingMeta, {
    description: 'Base URL of the update repository\'s signed TUF metadata (timestamp.json, N.root.json, …). Unset: no update checks.',
  }),
  targetsBaseUrl: stringValue('http(s):// or file:// URL', repositoryUrlProblem).optional().register(settingMeta, {
    description: 'Base URL of the update repository\'s targets (images, kernels, the manifest).',
  }),
  versionLock: stringValue('latest|version', versionLockProblem).prefault('latest').register(settingMeta, {
    description: 'latest: take the newest version allowed by this host\'s wave; a version: take exactly it (the only way to go back to an older version).',
  }),
  ignoreWaves: booleanValue().prefault(false).register(settingMeta, {
    description: 'Take a version as soon as it is published, whatever this host\'s wave.',
  }),
  // Stored as text like every setting value; readers get the number.
  seed: stringValue(`0…${SEED_MAX}`, seedProblem).transform(Number).optional().register(settingMeta, {
    description: `This host's place in staged rollouts (0–${SEED_MAX}); chosen at random at first start and kept. Lower seeds update earlier.`,
  }),
  rebootCommand: stringValue('command line', (t) => (t.trim() === '' ? 'expected a command (run by /bin/sh -c)' : undefined)).prefault('systemctl reboot').register(settingMeta, {
    description: 'What a reboot into an update runs (/bin/sh -c COMMAND): berthctl\'s and brupop\'s reboot action. Default: systemctl reboot.',
  }),
  rebootStrategy: enumValue(REBOOT_STRATEGIES).prefault('immediate').register(settingMeta, {
    description: 'Who allows an update reboot: immediate (nobody asked), etcd (one of fleet.max-concurrent-reboots slots of the fleet group, released after a healthy boot), fleetlock (a FleetLock server at updates.fleetlock-url).',
  }),
  fleetlockUrl: stringValue('http(s):// URL', fleetlockUrlProblem).optional().register(settingMeta, {
    description: 'Base URL of a FleetLock server (Fedora CoreOS\'s reboot protocol: POST <url>/v1/pre-reboot and /v1/steady-state); used when updates.reboot-strategy = fleetlock.',
  }),
  // Boot assessment (berth-boot-check.service, `berthctl update boot-check`): a new version is marked good
  // only when these pass; otherwise the host reboots and, after its tries, falls back to the previous one.
  healthChecks: listValue('unit names', containerNameProblem).prefault([]).register(settingMeta, {
    description: 'Units that must be running and healthy (or running, for a unit without a health check) before a boot is marked good, besides berthd, the essential bootstrap units and control.',
  }),
  healthTimeout: duration().prefault('5m').register(settingMeta, {
    description: 'How long the boot check waits for berthd, the essential units, control and updates.health-checks before it fails the boot (the host then reboots).',
  }),
});

export type UpdatesSettings = z.output<typeof updates>;

export const updatesFamily = family('updates', updates);
