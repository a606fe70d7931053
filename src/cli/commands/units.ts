// Unit commands: units, status, start/stop/restart, stop-all, logs.
import type { Command } from 'commander';
import { InvalidArgumentError } from '../commander.js';
import type { UnitStatus } from '../../wire/index.js';
import { connect } from '../context.js';
import { UsageError } from '../errors.js';
import { formatPairs, printJson, printJsonLine, printTable } from '../output.js';

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
    ['image', dash(u.image)],
    ['container', u.containerId === '' ? '-' : `${u.containerId} (namespace ${u.namespace})`],
    ['pid', u.pid > 0 ? String(u.pid) : '-'],
    ['started', dash(u.startedAt)],
    ['restarts', String(u.restarts)],
    ['exit code', dash(u.exitCode)],
    ['last error', dash(u.lastError)],
  ];
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

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(value);
}

export function registerUnits(program: Command): void {
  program
    .command('units')
    .description('list units with their state')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const units = await client.units.list();
      if (options.output === 'json') printJson(units);
      else printTable(['NAME', 'CLASS', 'STATE', 'DESIRED', 'PID', 'RESTARTS', 'HEALTH', 'IMAGE'], units.map(unitRow));
    });

  program
    .command('status')
    .description('show one unit in detail: state, pid, restarts, exit code, health, SELinux labels, recent events')
    .argument('<name>', 'unit name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const unit = await client.units.get(name);
      if (options.output === 'json') printJson(unit);
      else process.stdout.write(formatStatus(unit));
    });

  for (const verb of ['start', 'stop', 'restart'] as const) {
    program
      .command(verb)
      .description(`${verb} a unit (the supervisor's desired state follows)`)
      .argument('<name>', 'unit name')
      .action(async (name: string, _opts: unknown, cmd: Command) => {
        const { client, options } = await connect(cmd);
        const unit = await client.units[verb](name, {});
        if (options.output === 'json') printJson(unit);
        else process.stdout.write(`${unit.name}: ${unit.state}\n`);
      });
  }

  program
    .command('stop-all')
    .description('stop every unit (berthd keeps running)')
    .option('--yes', 'confirm: this also stops the admin and control containers')
    .action(async (opts: { yes?: boolean }, cmd: Command) => {
      if (!opts.yes) throw new UsageError('stop-all stops every unit; add --yes to confirm');
      const { client } = await connect(cmd);
      await client.units.stopAll();
    });

  program
    .command('logs')
    .description("print a unit's logs")
    .argument('<name>', 'unit name')
    .option('-n, --tail <lines>', 'only the last N lines', nonNegativeInt)
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
