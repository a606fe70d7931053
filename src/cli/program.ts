// berthctl's command tree. berthctl runs one command per process, so only that command's module is loaded
// (issue 16: start-up time is berthctl's latency); help, an unknown command or anything unusual before the
// command name gets the whole tree, so commander's help, errors and suggestions are what they always were.
// Commands talk to berthd through ./client.ts, loaded only by commands that need the daemon.
import { Command, Option } from './commander.js';
import { DEFAULT_SOCKET } from './context.js';

export interface ProgramHooks {
  /** Called by `exec` with the remote exit code. */
  setExitCode(code: number): void;
}

type Register = (program: Command, hooks: ProgramHooks) => void;

/** Every command module in help order, with the top-level commands it adds. */
const MODULES: readonly { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ['get', 'set', 'apply', 'keys', 'tx'], load: async () => (await import('./commands/settings.js')).registerSettings },
  { names: ['units', 'status', 'start', 'restart', 'stop', 'stop-all', 'logs'], load: async () => (await import('./commands/units.js')).registerUnits },
  { names: ['rollout'], load: async () => (await import('./commands/rollout.js')).registerRollout },
  { names: ['exec'], load: async () => {
    const { registerExec } = await import('./commands/exec.js');
    return (program, hooks) => registerExec(program, hooks.setExitCode);
  } },
  { names: ['events'], load: async () => (await import('./commands/events.js')).registerEvents },
  { names: ['images'], load: async () => (await import('./commands/images.js')).registerImages },
  { names: ['host', 'version'], load: async () => (await import('./commands/host.js')).registerHost },
  { names: ['validate'], load: async () => (await import('./commands/validate.js')).registerValidate },
  { names: ['workloads'], load: async () => (await import('./commands/workloads.js')).registerWorkloads },
  { names: ['fleet'], load: async () => (await import('./commands/fleet.js')).registerFleet },
  { names: ['update'], load: async () => (await import('./commands/update.js')).registerUpdate },
];

/** Global options that take a value, as berthctl defines them below. */
const VALUE_OPTIONS = new Set(['--socket', '-o', '--output']);

/** The command named by `args` (argv without node and script), or undefined when that is not plain to see. */
export function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (arg.startsWith('--socket=') || arg.startsWith('--output=')) continue;
    else if (arg.startsWith('-')) return undefined;
    else return arg;
  }
  return undefined;
}

function newProgram(): Command {
  // Set before adding commands: subcommands copy these settings when created.
  return new Command('berthctl')
    .exitOverride()
    // A stray argument is a mistake to report, not something to ignore (`berthctl units admin`).
    .allowExcessArguments(false)
    .showSuggestionAfterError()
    .description('control berth, the host container supervisor')
    .addOption(new Option('--socket <path>', 'berthd API socket').env('BERTH_SOCKET').default(DEFAULT_SOCKET))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** The program for `argv` (process.argv): the named command's module only, or every one. */
export async function buildProgram(hooks: ProgramHooks, argv: readonly string[] = []): Promise<Command> {
  const name = commandName(argv.slice(2));
  const only = name === undefined ? undefined : MODULES.find((m) => m.names.includes(name));
  if (only) {
    const program = newProgram();
    (await only.load())(program, hooks);
    if (program.commands.some((c) => c.name() === name)) return program;
  }
  const program = newProgram();
  for (const register of await Promise.all(MODULES.map((m) => m.load()))) register(program, hooks);
  return program;
}
