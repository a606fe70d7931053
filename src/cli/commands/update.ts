// `berthctl update check|apply|cancel|status`: the host's updater (berth.v1.Updates).
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from '../commander.js';
import type { UpdateStatusInfo } from '../../wire/updates.js';
import { ApiError, type BerthClient } from '../client.js';
import { connect } from '../context.js';
import { UsageError } from '../errors.js';
import { formatPairs, humanBytes, printJson } from '../output.js';
import { registerBootCheck } from './boot-check.js';

function progressText(s: UpdateStatusInfo): string {
  const op = s.operation;
  if (!op) return '-';
  const p = op.progress;
  if (!p || p.total <= 0) return `${op.kind} running since ${op.startedAt}${p ? ` (${p.phase})` : ''}`;
  const pct = Math.floor((100 * p.done) / p.total);
  return `${op.kind}: ${p.phase} ${pct}% (${humanBytes(p.done)} of ${humanBytes(p.total)})`;
}

function rollbackText(r: NonNullable<UpdateStatusInfo['lastRollback']>): string {
  const undone = r.migrationsUndone?.length ? ` (settings migrations undone: ${r.migrationsUndone.join(', ')})` : '';
  return `${r.fromVersion} → ${r.toVersion} at ${r.at}: ${r.reason}${undone}`;
}

function printStatus(s: UpdateStatusInfo, json: boolean): void {
  if (json) return printJson(s);
  process.stdout.write(formatPairs([
    ['state', s.state],
    ['running', s.runningVersion],
    ['available', s.availableVersions.length > 0 ? s.availableVersions.join(', ') : '-'],
    ['chosen', s.chosenVersion ?? '-'],
    ['staged', s.stagedVersion ?? '-'],
    ['operation', progressText(s)],
    ...(s.lastCheckReason ? [['note', s.lastCheckReason] as const] : []),
    ...(s.mostRecentCommand ? [['last command', `${s.mostRecentCommand.cmdType} ${s.mostRecentCommand.cmdStatus} at ${s.mostRecentCommand.timestamp}`] as const] : []),
    ...(s.lastError ? [['last error', `${s.lastError.operation} at ${s.lastError.at}: ${s.lastError.message}`] as const] : []),
    ...(s.lastRollback ? [['last rollback', rollbackText(s.lastRollback)] as const] : []),
  ]));
}

/** Polls until the apply started at `startedAt` is over; its failure (the last error since then) is thrown. */
async function waitForApply(client: BerthClient, startedAt: string, json: boolean): Promise<UpdateStatusInfo> {
  let last = '';
  for (;;) {
    const s = await client.updates.status();
    if (s.operation?.kind === 'apply' && s.operation.startedAt === startedAt) {
      const line = progressText(s);
      if (!json && line !== last && process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
      last = line;
      // berthd has no push for update progress; a quarter second is well under a human's patience.
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    if (!json && last && process.stderr.isTTY) process.stderr.write('\n');
    if (s.lastError && s.lastError.operation === 'apply' && s.lastError.at >= startedAt) throw new Error(`update apply failed: ${s.lastError.message}`);
    return s;
  }
}

/** How long `update reboot` waits for a fleet's reboot slot by default: an answer within the minute. */
export const DEFAULT_REBOOT_WAIT = '1m';
const WAIT_HELP = 'with updates.reboot-strategy etcd or fleetlock: how long to wait for a reboot slot before giving up with nothing taken (0: only a slot free now; at most 1h)';

/** `--wait`: 0, or a duration such as 30s, 5m or 1h (at most the hour berthd allows). */
export function rebootWaitArg(value: string): number {
  const m = /^(\d{1,9})(ms|s|m|h)?$/.exec(value);
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'] : NaN;
  if (!Number.isFinite(ms) || ms > 3_600_000) throw new InvalidArgumentError('expected 0 or a duration up to 1h, such as 30s, 5m or 1h');
  return ms;
}

const waitOption = (flags: string, help: string): InstanceType<typeof Option> =>
  new Option(flags, help).argParser(rebootWaitArg).default(rebootWaitArg(DEFAULT_REBOOT_WAIT), DEFAULT_REBOOT_WAIT);

export function registerUpdate(program: Command): void {
  const update = program.command('update').description('host updates: check the update repository, apply a version, cancel, status');
  // A subcommand that makes one call and prints the status it answers.
  const statusCall = (name: string, description: string, call: (c: BerthClient) => Promise<UpdateStatusInfo>): void => {
    update.command(name).description(description).action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      printStatus(await call(client), options.output === 'json');
    });
  };
  statusCall('check', 'read the update repository and choose a version for this host', (c) => c.updates.check());
  update
    .command('apply')
    .description('download and verify the chosen version, write it to the inactive slot and make it the next boot')
    .option('--no-wait', 'return once the apply has started')
    .option('--reboot', 'when the apply succeeded, reboot into the new version (updates.reboot-command)')
    .addOption(waitOption('--reboot-wait <duration>', `with --reboot, ${WAIT_HELP}`))
    .action(async (opts: { wait: boolean; reboot?: boolean; rebootWait: number }, cmd: Command) => {
      if (opts.reboot && !opts.wait) throw new UsageError('--reboot waits for the apply to end; it cannot be combined with --no-wait');
      const { client, options } = await connect(cmd);
      const json = options.output === 'json';
      const started = await client.updates.apply();
      const s = opts.wait && started.operation ? await waitForApply(client, started.operation.startedAt, json) : started;
      if (opts.reboot && s.state !== 'ready') throw new Error(`update apply --reboot: the update state is ${s.state}, not ready; not rebooting`);
      printStatus(s, json);
      if (opts.reboot) await reboot(client, { json, waitMs: opts.rebootWait, flag: '--reboot-wait', alone: false });
    });
  statusCall('cancel', 'stop the running update operation (a reboot waiting for its slot too), or step back: ready → staged → available → idle', (c) => c.updates.cancel());
  statusCall('status', 'state, running and available versions, progress, last error, last rollback', (c) => c.updates.status());
  statusCall('rollback', 'make the previous good version the next boot (refused when there is none)', (c) => c.updates.rollback());
  update
    .command('reboot')
    .description('reboot into the version that boots next (runs updates.reboot-command on the host, after the answer)')
    .addOption(waitOption('--wait <duration>', WAIT_HELP))
    .action(async (opts: { wait: number }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      await reboot(client, { json: options.output === 'json', waitMs: opts.wait, flag: '--wait', alone: true });
    });
  registerBootCheck(update);
}

/**
 * The reboot call. berthd answers before updates.reboot-command runs (it usually stops berthd), so the answer
 * is printed and the command's outcome is berthd's: `update status` shows its failure, if it fails.
 */
async function reboot(client: BerthClient, o: { json: boolean; waitMs: number; flag: string; alone: boolean }): Promise<void> {
  let r: { message: string; toVersion?: string };
  try {
    r = await client.updates.reboot({ waitMs: o.waitMs });
  } catch (e) {
    // No slot within the wait (RESOURCE_EXHAUSTED): berthd's refusal names the holders; say how to wait longer.
    if (e instanceof ApiError && e.code === 8) e.message = `${e.message} — try again later, or wait longer with ${o.flag} (at most 1h)`;
    throw e;
  }
  if (o.json && o.alone) return printJson(r);
  (o.json ? process.stderr : process.stdout).write(`${r.message}\n`);
}
