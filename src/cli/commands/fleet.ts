// `berthctl fleet status [--group G]`: the hosts of an etcd fleet group, through berthd (which reads etcd
// with its own fleet.etcd.* credentials).
import type { Command } from 'commander';
import type { FleetHostInfo } from '../../wire/index.js';
import { fleetGroupArg } from '../arguments.js';
import { connect } from '../context.js';
import { printJson, printTable } from '../output.js';

function dash(v: string): string {
  return v === '' ? '-' : v;
}

export function fleetRow(h: FleetHostInfo): string[] {
  const health = `${h.health.running}/${h.health.units} running${h.health.failed > 0 ? `, ${h.health.failed} failed` : ''}`;
  return [h.hostId, dash(h.version), dash(h.updateState), health, dash(h.slot), h.settingsRevision > 0 ? String(h.settingsRevision) : '-', dash(h.lastSeen), dash(h.lastError)];
}

export function registerFleet(program: Command): void {
  const fleet = program.command('fleet').description('the etcd fleet this host belongs to (fleet.* settings)');
  fleet
    .command('status')
    .description('every host of the group: id, version, update state, unit health, slot held, settings revision applied, last seen, last error')
    .option('--group <group>', 'the group to show (default: this host\'s fleet.group)', fleetGroupArg)
    .action(async (opts: { group?: string }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const status = await client.fleet.status(opts.group);
      if (options.output === 'json') {
        printJson(status);
        return;
      }
      printTable(['HOST', 'VERSION', 'STATE', 'HEALTH', 'SLOT', 'SETTINGS', 'LAST SEEN', 'LAST ERROR'], status.hosts.map(fleetRow));
    });
}
