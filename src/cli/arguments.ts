// Argument and flag parsers for commander: each checks one value before any connection is made, so a typo is
// a usage error (exit 2) naming the argument or flag, never a round trip to berthd or a silent default.
// commander prefixes the message with the flag or argument it came from. Only light rules live here (no zod
// registry): berthctl starts on every invocation.
import { InvalidArgumentError } from './commander.js';
import { statSync } from 'node:fs';
import { unreadable } from './files.js';
import { unitNameProblem } from '../units/names.js';
import { imageRefProblem } from '../units/image-ref.js';
import { parseSize } from '../units/quantities.js';
import { transactionNameProblem } from '../settings/names.js';

function check(problem: string | undefined, value: string): string {
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return value;
}

/** A unit or workload name (workloads are units of class workload). */
export const nameArg = (value: string): string => check(unitNameProblem(value), value);

export const imageRefArg = (value: string): string => check(imageRefProblem(value), value);

/** A name an image already has: whatever an archive called it, so only what no name can be is refused. */
export const imageNameArg = (value: string): string =>
  check(value === '' ? 'must not be empty' : /\s/.test(value) ? 'must not contain whitespace' : undefined, value);

export const txNameArg = (value: string): string => check(transactionNameProblem(value), value);

// Setting keys are dotted segments; a registry host inside one may carry a port, a mirror may be `*`.
const KEY = /^[A-Za-z0-9_*:-]+(?:\.[A-Za-z0-9_*:-]+)*$/;

export const settingsPrefixArg = (value: string): string =>
  check(KEY.test(value) ? undefined : 'expected a dotted settings key like host-containers.admin', value);

export function nonNegativeIntArg(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(value);
}

/** A size, checked here and passed on as typed (the request carries bytes, computed by the caller). */
export function sizeArg(value: string): string {
  const r = parseSize(value);
  if (!r.ok) throw new InvalidArgumentError(r.message);
  return value;
}

export function nonEmptyArg(value: string): string {
  return check(value === '' ? 'must not be empty' : undefined, value);
}

/** A file berthctl itself reads (not berthd): it must exist now. */
export function existingFileArg(value: string): string {
  let problem: string | undefined;
  try {
    if (!statSync(value).isFile()) problem = 'is not a regular file';
  } catch (err) {
    problem = unreadable(err);
  }
  return check(problem, value);
}

/** A fleet group: one segment of an etcd key (the same rule as fleet.group in src/settings/families/fleet.ts). */
export const fleetGroupArg = (value: string): string =>
  check(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(value) ? undefined : 'expected 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)', value);

/** A version a fleet rollout targets: MAJOR.MINOR.PATCH, as updates.version-lock takes it. */
export const versionArg = (value: string): string =>
  check(/^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/.test(value) ? undefined : 'expected a version MAJOR.MINOR.PATCH (e.g. 1.4.0)', value);

/** Reboot slots of a rollout: 1 to 1000. */
export function maxConcurrentArg(value: string): number {
  if (!/^[1-9]\d{0,3}$/.test(value) || Number(value) > 1000) throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  return Number(value);
}
