// Boot assessment (issue 17): the judgement berth-boot-check.service makes (`berthctl update boot-check`)
// before boot-complete.target, which is what lets systemd-bless-boot mark a boot entry good. A version that
// boots but does not come up healthy must not be blessed: the service fails, the host reboots, and after the
// entry's tries systemd-boot falls back to the previous version (the gap Bottlerocket leaves open: it rolls
// back only when the kernel never reaches userspace).
//
// Pure parts here (what passes, the polling loop with its deadline, the record); the command that feeds them
// from berthd and systemd is in commands/boot-check.ts.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { UnitStatus } from '../wire/index.js';

/** What one poll saw. */
export interface BootCheckSnapshot {
  /** berthd.service's systemd ActiveState (`active` only after its READY=1); undefined when not asked. */
  readonly berthdState: string | undefined;
  /** berthd's own view (Host.Version's daemon status): ready once its supervisor has started. */
  readonly daemon?: { readonly ready: boolean; readonly message: string };
  /** The units as berthd lists them, or why the API did not answer. */
  readonly units: readonly UnitStatus[] | { readonly error: string };
}

/** What must hold, from the settings. */
export interface BootCheckPlan {
  /** Bootstrap units whose failure fails the boot (bootstrap-containers.<name>.essential, mode not off). */
  readonly essential: readonly string[];
  /** updates.health-checks. */
  readonly healthChecks: readonly string[];
}

export interface CheckOutcome {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
  /** A failure that waiting cannot mend (an essential bootstrap unit failed, a named unit does not exist). */
  readonly final: boolean;
}

const CONTROL = 'control';

function outcome(check: string, ok: boolean, detail: string, final = false): CheckOutcome {
  return { check, ok, detail, final: !ok && final };
}

function unitLine(u: UnitStatus): string {
  return `${u.state}, health ${u.health}${u.lastError ? `, last error: ${u.lastError}` : ''}`;
}

/** Running, and healthy when it has a health check (`none`: it has none, so running is all it can show). */
function runningHealthy(u: UnitStatus): boolean {
  return u.state === 'running' && (u.health === 'healthy' || u.health === 'none');
}

/** Every check, in a fixed order: berthd, essential bootstrap units, control, updates.health-checks. */
export function judgeBoot(s: BootCheckSnapshot, plan: BootCheckPlan): CheckOutcome[] {
  const out: CheckOutcome[] = [];
  const apiError = 'error' in s.units ? s.units.error : undefined;
  const sd = s.berthdState === undefined ? '' : `systemd ${s.berthdState}; `;
  const daemon = s.daemon ? `; daemon ${s.daemon.ready ? 'ready' : 'not ready'}${s.daemon.message ? ` (${s.daemon.message})` : ''}` : '';
  out.push(outcome('berthd', (s.berthdState === undefined || s.berthdState === 'active') && apiError === undefined && s.daemon?.ready !== false,
    `${sd}${apiError === undefined ? 'API answers' : `API: ${apiError}`}${daemon}`));
  const units = 'error' in s.units ? undefined : new Map(s.units.map((u) => [u.name, u]));
  const unknown = (check: string): CheckOutcome => outcome(check, false, 'berthd did not answer');
  for (const name of plan.essential) {
    const check = `essential:${name}`;
    const u = units?.get(name);
    if (!units) out.push(unknown(check));
    else if (!u) out.push(outcome(check, false, 'no such unit in berthd', true));
    else if (u.state === 'exited' && (u.exitCode ?? 0) === 0) out.push(outcome(check, true, 'completed'));
    else out.push(outcome(check, false, unitLine(u), u.state === 'failed'));
  }
  const control = units?.get(CONTROL);
  if (!units) out.push(unknown(CONTROL));
  // host-containers.control.enabled = false is the operator's choice, not a bad boot.
  else if (!control || control.desired !== 'running') out.push(outcome(CONTROL, true, 'not enabled'));
  else out.push(outcome(CONTROL, runningHealthy(control), unitLine(control)));
  for (const name of plan.healthChecks) {
    const check = `health:${name}`;
    const u = units?.get(name);
    if (!units) out.push(unknown(check));
    // Settings name units that may come from a unit file or a later settings change: keep waiting for it.
    else if (!u) out.push(outcome(check, false, 'no such unit in berthd'));
    else out.push(outcome(check, runningHealthy(u), unitLine(u)));
  }
  return out;
}

export interface BootCheckResult {
  readonly passed: boolean;
  readonly checks: readonly CheckOutcome[];
  readonly elapsedMs: number;
}

export interface BootCheckLoopDeps {
  now(): number;
  sleep(ms: number): Promise<void>;
  snapshot(): Promise<BootCheckSnapshot>;
  /** Each poll's outcome (progress on the journal). */
  onPoll?(checks: readonly CheckOutcome[]): void;
}

export const POLL_MS = 1000;

/** Polls until every check passes, one fails for good, or `timeoutMs` is over. */
export async function runBootCheck(plan: BootCheckPlan, timeoutMs: number, d: BootCheckLoopDeps): Promise<BootCheckResult> {
  const start = d.now();
  for (;;) {
    const checks = judgeBoot(await d.snapshot(), plan);
    d.onPoll?.(checks);
    const elapsedMs = d.now() - start;
    if (checks.every((c) => c.ok)) return { passed: true, checks, elapsedMs };
    if (checks.some((c) => c.final) || elapsedMs >= timeoutMs) return { passed: false, checks, elapsedMs };
    await d.sleep(Math.min(POLL_MS, timeoutMs - elapsedMs));
  }
}

/** What is kept on the state partition for `update status` after a fallback (one file per version). */
export interface BootCheckRecord {
  readonly version: string;
  /** The boot entry systemd-boot started (LoaderEntrySelected), when booted through it. */
  readonly entry?: string;
  readonly passed: boolean;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly timeoutMs: number;
  /** The checks that did not pass, first the one that decided (a final one, else the first in order). */
  readonly failed: readonly { readonly check: string; readonly detail: string }[];
  readonly checks: readonly CheckOutcome[];
}

export function failedChecks(checks: readonly CheckOutcome[]): { check: string; detail: string }[] {
  const bad = checks.filter((c) => !c.ok);
  const ordered = [...bad.filter((c) => c.final), ...bad.filter((c) => !c.final)];
  return ordered.map((c) => ({ check: c.check, detail: c.detail }));
}

/** `<dir>/<version>.json`; a version that could be a path is refused rather than escaped. */
export function recordPath(dir: string, version: string): string {
  if (!/^[0-9A-Za-z][0-9A-Za-z._~^+-]{0,127}$/.test(version) || version.includes('..')) {
    throw new Error(`boot check: version ${JSON.stringify(version)} cannot name a record file`);
  }
  return path.join(dir, `${version}.json`);
}

/** Written whole or not at all (temp file + rename): the next boot may be the one reading it. */
export async function writeRecord(dir: string, record: BootCheckRecord): Promise<string> {
  const file = recordPath(dir, record.version);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, file);
  return file;
}

/** LoaderEntrySelected as efivarfs stores it: 4 bytes of attributes, then UTF-16LE with a trailing NUL. */
export function decodeEfiString(bytes: Uint8Array): string {
  const body = Buffer.from(bytes.subarray(4));
  return body.toString('utf16le').replace(/\0+$/, '');
}
