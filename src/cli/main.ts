// berthctl entry point: parse, run one command, map the outcome to an exit code (0 ok, 1 failed, 2 usage).
import { CommanderError } from './commander.js';
import { closeClient, globalOptions } from './context.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, ReportedFailure, UsageError } from './errors.js';
import { buildProgram } from './program.js';

/** Waits for stdout/stderr to flush (they are asynchronous when piped), then exits. */
function exit(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

function fail(message: string): void {
  process.stderr.write(`berthctl: ${message}\n`);
}

/** A readable message for a failed call; "cannot connect" says where we looked. */
function describe(err: Error & { code?: unknown }, socket: string): string {
  // grpc-js appends an empty "Resolution note:" to connection errors.
  const message = err.message.replace(/\.?\s*Resolution note:\s*$/, '');
  if (err.name === 'ApiError' && err.code === 14) return `cannot reach berthd at ${socket}: ${message}`;
  return message;
}

async function main(argv: string[]): Promise<number> {
  let exitCode = EXIT_OK;
  const program = await buildProgram({ setExitCode: (code) => (exitCode = code) }, argv);
  // commander prints its own parse errors; one thrown from an action (an InvalidArgumentError from flag
  // checks) it does not, so remember which ones it printed and print the rest below.
  let commanderPrinted = false;
  program.configureOutput({
    outputError: (text, write) => {
      commanderPrinted = true;
      write(text);
    },
  });
  // A closed pipe (`berthctl logs x | head`) ends us quietly, like other Unix tools.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(exitCode);
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed help, or (commanderPrinted) the message already.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      if (!commanderPrinted) fail(err.message);
      return EXIT_USAGE;
    }
    if (err instanceof ReportedFailure) return err.exitCode;
    if (err instanceof UsageError) {
      fail(err.message);
      return EXIT_USAGE;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    const socket = globalOptions(program).socket;
    fail(describe(e, socket));
    return EXIT_FAILURE;
  } finally {
    closeClient();
  }
}

main(process.argv).then(exit, (err: unknown) => {
  fail(err instanceof Error ? err.message : String(err));
  exit(EXIT_FAILURE);
});
