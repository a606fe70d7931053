// `berthctl events`: the live event stream, one line per event, until interrupted.
import type { Command } from 'commander';
import { connect } from '../context.js';
import { printJsonLine } from '../output.js';

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('watch unit state changes and daemon events as they happen (Ctrl-C to stop)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      for await (const e of client.events.watch({ signal: controller.signal })) {
        if (options.output === 'json') {
          printJsonLine(e);
        } else if (e.kind === 'hello') {
          // The snapshot tells a person the stream is live; the state itself is what `units` shows.
          process.stderr.write(`watching events (${e.units.length} units, ${e.daemon.ready ? 'ready' : 'not ready'})\n`);
        } else if (e.kind === 'unit') {
          process.stdout.write(`${e.at}  ${e.unit}  ${e.state}  ${e.message}\n`);
        } else {
          process.stdout.write(`${e.at}  berthd  ${e.message}\n`);
        }
      }
    });
}
