// Unit commands: units, status, start/stop/restart, stop-all, logs.
import type { Command } from 'commander';
import type { UnitStatus } from '../../wire/index.js';
import { nameArg, nonNegativeIntArg } from '../arguments.js';
import { connect } from '../context.js';
import { UsageError } from '../errors.js';
import { formatPairs, printJson, printJsonLine, printTable } from '../output.js';
import { seconds, stopOutcome } from '../stop-progress.js';
import { failIfAny, followStop } from '../stop-view.js';
import { rolloutLine } from './rollout.js';

function dash(v: string | number | undefined): string {
  return v === undefined || v === '' ? '-' : String(v);
}

export function unitRow(u: UnitStatus): string[] {
  return [u.name, u.class, u.state, u.desired, u.pid > 0 ? String(u.pid) : '-', String(u.restarts), u.health, u.image];
}

export function formatStatus(u: UnitStatus): string {
  const pairs: [string, string][] = [
    ['name', u.name],
    ['class', u.class + (u.superpowered ? ' (superpowered)' : '')],
    ['state', `${u.state} (desired ${u.desired})`],
    ['health', u.health],
    ['image', dash(u.image) + (u.runningImage && !u.runningImage.startsWith(`${u.image}@`) && u.runningImage !== u.image ? ` (asked; running ${u.runningImage})` : '')],
    ['running', dash(u.runningImage)],
    ['container', u.containerId === '' ? '-' : `${u.containerId} (namespace ${u.namespace})`],
    ['pid', u.pid > 0 ? String(u.pid) : '-'],
    ['started', dash(u.startedAt)],
    ['restarts', String(u.restarts)],
    ['exit code', dash(u.exitCode)],
    ['last error', dash(u.lastError)],
  ];
  if (u.rollout) pairs.push(['rollout', rolloutLine(u.rollout)]);
  if (u.nextRestartInMs !== undefined) pairs.push(['next restart', `in ${(u.nextRestartInMs / 1000).toFixed(1)}s`]);
  if (u.selinux) {
    const s = u.selinux;
    pairs.push(['selinux', `${s.processLabel} / ${s.mountLabel} (${s.applied ? 'applied' : `recorded only${s.reason ? `: ${s.reason}` : ''}`})`]);
  }
  let text = formatPairs(pairs);
  if (u.events.length > 0) {
    text += 'events:\n' + u.events.map((e) => `  ${e.at}  ${e.state.padEnd(11)}  ${e.message}\n`).join('');
  }
  return text;
}

/** berthd keeps a unit's last 64 events; a listing shows the newest few, `status --events N` more. */
export const LIST_EVENTS = 5;
export const STATUS_EVENTS = 10;

export function lastEvents(u: UnitStatus, n: number): UnitStatus {
  return { ...u, events: n === 0 ? [] : u.events.slice(-n) };
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

export function registerUnits(program: Command): void {
  program
    .command('units')
    .description('list units with their state')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const units = await client.units.list();
      if (options.output === 'json') printJson(units.map((u) => lastEvents(u, LIST_EVENTS)));
      else printTable(['NAME', 'CLASS', 'STATE', 'DESIRED', 'PID', 'RESTARTS', 'HEALTH', 'IMAGE'], units.map(unitRow));
    });

  program
    .command('status')
    .description('show one unit in detail: state, pid, restarts, exit code, health, SELinux labels, recent events')
    .argument('<name>', 'unit name', nameArg)
    .option('--events <n>', `how many recent events to show (default ${STATUS_EVENTS}, at most 64 are kept)`, nonNegativeIntArg)
    .action(async (name: string, opts: { events?: number }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const unit = lastEvents(await client.units.get(name), opts.events ?? STATUS_EVENTS);
      if (options.output === 'json') printJson(unit);
      else process.stdout.write(formatStatus(unit));
    });

  for (const verb of ['start', 'restart'] as const) {
    program
      .command(verb)
      .description(`${verb} a unit (the supervisor's desired state follows)`)
      .argument('<name>', 'unit name', nameArg)
      .action(async (name: string, _opts: unknown, cmd: Command) => {
        const { client, options } = await connect(cmd);
        const unit = await client.units[verb](name, {});
        if (options.output === 'json') printJson(unit);
        else process.stdout.write(`${unit.name}: ${unit.state}\n`);
      });
  }

  program
    .command('stop')
    .description('stop a unit, showing the stop signal and the time until SIGKILL while it waits; it stays stopped until `start` (a settings change that does not turn it off and on again leaves it so; a berthd restart runs it again)')
    .argument('<name>', 'unit name', nameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      if (options.output === 'json') {
        printJson(await client.units.stop(name, {}));
        return;
      }
      const events = await followStop(client.units.stopWithProgress(name), options.output, () => client.units.stop(name, {}));
      const unit = await client.units.get(name);
      process.stdout.write(`${unit.name}: ${unit.state}\n`);
      failIfAny(events);
    });

  program
    .command('stop-all')
    .description('stop every unit and every workload and remove their containers: no task, shim or mount of berth is left (berthd and its containerd keep running). Progress per unit while it waits. Nothing comes back by itself: units stay stopped until `start` or a berthd restart (which runs the enabled ones again); workloads are persisted as stopped, as by `workloads stop`, and stay so, across berthd restarts too, until `workloads start`')
    .option('--yes', 'confirm: this also stops the admin and control containers and every workload')
    .action(async (opts: { yes?: boolean }, cmd: Command) => {
      if (!opts.yes) throw new UsageError('stop-all stops every unit and workload; add --yes to confirm');
      const { client, options } = await connect(cmd);
      const started = Date.now();
      const events = await followStop(client.units.stopAllWithProgress(), options.output, () => client.units.stopAll());
      if (options.output !== 'json') {
        const took = seconds(Date.now() - started);
        if (events) {
          const o = stopOutcome(events);
          process.stdout.write(`stopped ${count(o.units, 'unit')} and ${count(o.workloads, 'workload')} in ${took}\n`);
        } else process.stdout.write(`stopped everything in ${took}\n`);
      }
      failIfAny(events);
    });

  program
    .command('logs')
    .description("print a unit's logs")
    .argument('<name>', 'unit name', nameArg)
    .option('-n, --tail <lines>', 'only the last N lines', nonNegativeIntArg)
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .action(async (name: string, opts: { tail?: number; follow?: boolean }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const lines = client.units.logs(name, {
        follow: opts.follow ?? false,
        signal: controller.signal,
        ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
      });
      for await (const l of lines) {
        if (options.output === 'json') printJsonLine(l);
        else process.stdout.write(l.stream === 'stderr' ? `${l.at} [stderr] ${l.line}\n` : `${l.at} ${l.line}\n`);
      }
    });
}
