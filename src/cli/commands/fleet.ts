// `berthctl fleet status|update|hold|resume [--group G]`: the hosts of an etcd fleet group and its rolling
// update, through berthd (which talks to etcd with its own fleet.etcd.* credentials).
import type { Command } from 'commander';
import type { FleetHostInfo, FleetRolloutInfo } from '../../wire/index.js';
import { fleetGroupArg, maxConcurrentArg, versionArg } from '../arguments.js';
import { connect } from '../context.js';
import { printJson, printTable } from '../output.js';

function dash(v: string): string {
  return v === '' ? '-' : v;
}

export function fleetRow(h: FleetHostInfo): string[] {
  const health = `${h.health.running}/${h.health.units} running${h.health.failed > 0 ? `, ${h.health.failed} failed` : ''}`;
  return [h.hostId, dash(h.version), dash(h.updateState), health, dash(h.slot), h.settingsRevision > 0 ? String(h.settingsRevision) : '-', dash(h.lastSeen), dash(h.lastError)];
}

/** `rollout: 2.0.0 (max 2 at once), held; slots: h1, h2; failed: h3 (why)` — or `rollout: none`. */
export function rolloutLine(r: FleetRolloutInfo): string {
  if (r.targetVersion === '' && r.slotHolders.length === 0 && r.failed.length === 0) return 'rollout: none';
  const max = r.maxConcurrent > 0 ? `max ${r.maxConcurrent} at once` : 'max: each host\'s fleet.max-concurrent-reboots';
  const parts = [`rollout: ${r.targetVersion === '' ? '-' : r.targetVersion} (${max})`];
  if (r.held) parts.push('HELD (berthctl fleet resume)');
  if (r.failed.length > 0) parts.push(`HALTED: ${r.failed.map((f) => `${f.hostId} failed (${f.reason})`).join('; ')} (berthctl fleet resume)`);
  parts.push(`slots held: ${r.slotHolders.length > 0 ? r.slotHolders.join(', ') : 'none'}`);
  return parts.join('; ');
}

const GROUP_HELP = 'the group (default: this host\'s fleet.group)';

export function registerFleet(program: Command): void {
  const fleet = program.command('fleet').description('the etcd fleet this host belongs to (fleet.* settings) and its rolling updates');
  fleet
    .command('status')
    .description('every host of the group: id, version, update state, unit health, slot held, settings revision applied, last seen, last error; and the group\'s rollout')
    .option('--group <group>', GROUP_HELP, fleetGroupArg)
    .action(async (opts: { group?: string }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const status = await client.fleet.status(opts.group);
      if (options.output === 'json') {
        printJson(status);
        return;
      }
      printTable(['HOST', 'VERSION', 'STATE', 'HEALTH', 'SLOT', 'SETTINGS', 'LAST SEEN', 'LAST ERROR'], status.hosts.map(fleetRow));
      console.log(rolloutLine(status.rollout));
    });
  fleet
    .command('update')
    .description('roll VERSION through the group: each host checks, stages and reboots into it, taking one of the group\'s reboot slots')
    .requiredOption('--version <version>', 'the version every host of the group is to run (MAJOR.MINOR.PATCH)', versionArg)
    .option('--group <group>', GROUP_HELP, fleetGroupArg)
    .option('--max-concurrent <n>', 'hosts rebooting at once (default: each host\'s fleet.max-concurrent-reboots)', maxConcurrentArg)
    .action(async (opts: { group?: string; version: string; maxConcurrent?: number }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      printRollout(await client.fleet.update(opts.group, opts.version, opts.maxConcurrent ?? 0), options.output === 'json');
    });
  for (const [name, description] of [
    ['hold', 'stop the group\'s rollout: no host takes a new reboot slot (hosts rebooting now finish)'],
    ['resume', 'restart a held or halted rollout: clears the hold, and failed hosts give their reboot slots back'],
  ] as const) {
    fleet
      .command(name)
      .description(description)
      .option('--group <group>', GROUP_HELP, fleetGroupArg)
      .action(async (opts: { group?: string }, cmd: Command) => {
        const { client, options } = await connect(cmd);
        printRollout(await client.fleet[name](opts.group), options.output === 'json');
      });
  }
}

function printRollout(r: { group: string; rollout: FleetRolloutInfo }, json: boolean): void {
  if (json) printJson(r);
  else console.log(`group ${r.group}: ${rolloutLine(r.rollout)}`);
}
