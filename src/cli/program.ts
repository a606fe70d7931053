// berthctl's command tree. Commands talk to berthd through ./client.ts, loaded only by commands that need
// the daemon, so `--help` and `validate` start without gRPC.
import { Command, Option } from 'commander';
import { registerEvents } from './commands/events.js';
import { registerExec } from './commands/exec.js';
import { registerHost } from './commands/host.js';
import { registerImages } from './commands/images.js';
import { registerSettings } from './commands/settings.js';
import { registerUnits } from './commands/units.js';
import { registerValidate } from './commands/validate.js';
import { registerWorkloads } from './commands/workloads.js';
import { DEFAULT_SOCKET } from './context.js';

export interface ProgramHooks {
  /** Called by `exec` with the remote exit code. */
  setExitCode(code: number): void;
}

export function buildProgram(hooks: ProgramHooks): Command {
  const program = new Command('berthctl');
  // Set before adding commands: subcommands copy these settings when created.
  program
    .exitOverride()
    // A stray argument is a mistake to report, not something to ignore (`berthctl units admin`).
    .allowExcessArguments(false)
    .showSuggestionAfterError()
    .description('control berth, the host container supervisor')
    .addOption(new Option('--socket <path>', 'berthd API socket').env('BERTH_SOCKET').default(DEFAULT_SOCKET))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'));

  registerSettings(program);
  registerUnits(program);
  registerExec(program, hooks.setExitCode);
  registerEvents(program);
  registerImages(program);
  registerHost(program);
  registerValidate(program);
  registerWorkloads(program);
  return program;
}
