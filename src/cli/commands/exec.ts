// `berthctl exec [-t] NAME -- CMD…`: runs a command in a unit's container with our stdio attached. With -t
// the local terminal goes raw (keys reach the remote shell unchanged) and window size changes follow.
import type { Command } from 'commander';
import { InvalidArgumentError } from '../commander.js';
import { nameArg } from '../arguments.js';
import { connect } from '../context.js';
import { UsageError } from '../errors.js';

function collect(value: string, previous: string[]): string[] {
  if (!value.includes('=')) throw new InvalidArgumentError('expected KEY=VALUE');
  return [...previous, value];
}

/** Runs the session; resolves with the remote exit code. */
async function run(name: string, args: string[], opts: { tty?: boolean; env: string[] }, cmd: Command): Promise<number> {
  const { client } = await connect(cmd);
  const tty = opts.tty === true;
  const stdin = process.stdin;
  const rawMode = tty && stdin.isTTY;
  const session = client.units.exec({
    unit: name,
    args,
    tty,
    ...(tty && process.stdout.isTTY ? { cols: process.stdout.columns, rows: process.stdout.rows } : {}),
    ...(opts.env.length > 0 ? { env: opts.env } : {}),
  });
  const onResize = (): void => session.resize(process.stdout.columns, process.stdout.rows);
  if (rawMode) {
    stdin.setRawMode(true);
    process.on('SIGWINCH', onResize);
  }
  session.stdout.pipe(process.stdout, { end: false });
  session.stderr.pipe(process.stderr, { end: false });
  stdin.pipe(session.stdin);
  try {
    const code = await session.exitCode;
    // Let the last output reach our stdout before the caller exits.
    await Promise.all([
      new Promise((resolve) => (session.stdout.readableEnded ? resolve(undefined) : session.stdout.once('end', resolve))),
      new Promise((resolve) => (session.stderr.readableEnded ? resolve(undefined) : session.stderr.once('end', resolve))),
    ]);
    return code;
  } finally {
    stdin.unpipe(session.stdin);
    stdin.pause();
    if (rawMode) {
      process.off('SIGWINCH', onResize);
      stdin.setRawMode(false);
    }
  }
}

export function registerExec(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('exec')
    .description("run a command in a unit's container; its exit code becomes berthctl's")
    .usage('[options] <name> -- <command...>')
    .argument('<name>', 'unit name', nameArg)
    .argument('<command...>', 'command and arguments (after --)')
    .option('-t, --tty', 'allocate a terminal (raw mode locally, window size forwarded)')
    .option('-e, --env <KEY=VALUE>', 'extra environment variable (repeatable)', collect, [] as string[])
    .action(async (name: string, command: string[], opts: { tty?: boolean; env: string[] }, cmd: Command) => {
      if (command.length === 0) throw new UsageError('missing argument <command>: exec needs a command after --');
      setExitCode(await run(name, command, opts, cmd));
    });
}
