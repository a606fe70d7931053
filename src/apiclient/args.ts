// berth-apiclient's command line, as Bottlerocket's apiclient reads its own (sources/api/apiclient/src/main.rs):
// global -s/--socket-path, --log-level, -v/--verbose anywhere; subcommand `raw` (the default: -u/--uri,
// -m/-X/--method, -d/--data), `update check|apply|cancel` (apply: -c/--check, -r/--reboot) and `reboot`.
// Other apiclient subcommands (get, set, apply, exec, report) are Bottlerocket's settings API: not berth's.

export type ApiclientCommand =
  | { readonly kind: 'raw'; readonly method: string; readonly uri: string; readonly data?: string }
  | { readonly kind: 'update-check' }
  | { readonly kind: 'update-apply'; readonly check: boolean; readonly reboot: boolean }
  | { readonly kind: 'update-cancel' }
  | { readonly kind: 'reboot' }
  | { readonly kind: 'help' };

export interface ApiclientArgs {
  /** -s/--socket-path; absent: BERTH_SOCKET, then berth's default socket. */
  readonly socketPath?: string;
  readonly verbose: boolean;
  readonly command: ApiclientCommand;
}

/** A bad command line: printed with the usage, exit status 2 (as apiclient). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `Usage: berth-apiclient [SUBCOMMAND] [OPTION]...

Bottlerocket's apiclient contract on berth's API socket (for brupop's agent and scripts written for it).

Global options:
    -s, --socket-path PATH     berthd's API socket.  Default: $BERTH_SOCKET, else /run/berth/api.sock
    --log-level LEVEL          trace|debug|info|warn|error (debug and trace: as --verbose)
    -v, --verbose              Prints the HTTP status code to stderr in 'raw' mode.

Subcommands:
    raw                        Makes a request and prints the response on stdout ('raw' may be omitted).
    update check               Refreshes the list of updates and prints the update status.
    update apply               Prepares and activates the chosen update.
    update cancel              Deactivates an activated update.
    reboot                     Reboots the host (updates.reboot-command).

raw options:
    -u, --uri URI              Required: GET /os, GET /updates/status, POST /actions/refresh-updates,
                               /actions/prepare-update, /actions/activate-update,
                               /actions/deactivate-update, /actions/reboot
    -m, -X, --method METHOD    Default: GET
    -d, --data DATA            Request body (the actions take none).

update apply options:
    -c, --check                Refresh first and apply whatever is found.
    -r, --reboot               Reboot once the update is ready.`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'off'];
const SUBCOMMANDS = ['raw', 'update', 'reboot'];
const NOT_BERTH = ['apply', 'exec', 'get', 'set', 'report'];
const RAW_VALUE_FLAGS = ['-u', '--uri', '-m', '-X', '--method', '-d', '--data'];

function valueOf(iter: Iterator<string>, flag: string): string {
  const next = iter.next();
  if (next.done) throw new UsageError(`Did not give argument to ${flag}`);
  return next.value;
}

export function parseArgs(argv: readonly string[]): ApiclientArgs {
  let socketPath: string | undefined;
  let verbose = false;
  let subcommand: string | undefined;
  const rest: string[] = [];
  const iter = argv[Symbol.iterator]();
  for (let r = iter.next(); !r.done; r = iter.next()) {
    const arg = r.value;
    if (arg === '-h' || arg === '--help') return { verbose, command: { kind: 'help' } };
    if (arg === '-s' || arg === '--socket-path') socketPath = valueOf(iter, '-s | --socket-path');
    else if (arg === '-v' || arg === '--verbose') verbose = true;
    else if (arg === '--log-level') {
      const level = valueOf(iter, '--log-level');
      if (!LOG_LEVELS.includes(level)) throw new UsageError(`Invalid log level '${level}' (expected one of ${LOG_LEVELS.join(', ')})`);
      verbose = level === 'debug' || level === 'trace';
    } else if (RAW_VALUE_FLAGS.includes(arg)) {
      // A flag's value is never a subcommand (`-X get`).
      const value = iter.next();
      rest.push(arg, ...(value.done ? [] : [value.value]));
    } else if (subcommand === undefined && NOT_BERTH.includes(arg)) {
      throw new UsageError(`'${arg}' is Bottlerocket's settings API, which berth does not answer: berth-apiclient does raw, update and reboot (use berthctl for settings)`);
    } else if (subcommand === undefined && SUBCOMMANDS.includes(arg)) subcommand = arg;
    else rest.push(arg);
  }
  const base = { verbose, ...(socketPath !== undefined ? { socketPath } : {}) };
  if (socketPath === '') throw new UsageError('-s | --socket-path: expected a path, got an empty string');
  switch (subcommand) {
    case undefined:
    case 'raw':
      return { ...base, command: parseRaw(rest) };
    case 'update':
      return { ...base, command: parseUpdate(rest) };
    default:
      if (rest.length > 0) throw new UsageError(`Unknown arguments: ${rest.join(', ')}`);
      return { ...base, command: { kind: 'reboot' } };
  }
}

function parseRaw(args: readonly string[]): ApiclientCommand {
  let method: string | undefined;
  let uri: string | undefined;
  let data: string | undefined;
  const iter = args[Symbol.iterator]();
  for (let r = iter.next(); !r.done; r = iter.next()) {
    switch (r.value) {
      case '-X':
      case '-m':
      case '--method':
        method = valueOf(iter, '-m | --method');
        break;
      case '-u':
      case '--uri':
        uri = valueOf(iter, '-u | --uri');
        break;
      case '-d':
      case '--data':
        data = valueOf(iter, '-d | --data');
        break;
      default:
        throw new UsageError(`Unknown argument '${r.value}'`);
    }
  }
  if (uri === undefined) throw new UsageError("Missing required argument '--uri'");
  if (!uri.startsWith('/')) throw new UsageError(`-u | --uri: expected a path starting with /, got '${uri}'`);
  const m = (method ?? 'GET').toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(m)) throw new UsageError(`-m | --method: expected an HTTP method such as GET or POST, got '${method}'`);
  return { kind: 'raw', method: m, uri, ...(data !== undefined ? { data } : {}) };
}

function parseUpdate(args: readonly string[]): ApiclientCommand {
  const [sub, ...flags] = args;
  if (sub === 'check' || sub === 'cancel') {
    if (flags.length > 0) throw new UsageError(`update ${sub} takes no options, got: ${flags.join(' ')}`);
    return { kind: sub === 'check' ? 'update-check' : 'update-cancel' };
  }
  if (sub === 'apply') {
    let check = false;
    let reboot = false;
    for (const f of flags) {
      if (f === '-c' || f === '--check') check = true;
      else if (f === '-r' || f === '--reboot') reboot = true;
      else throw new UsageError(`Unknown argument '${f}' (update apply takes -c/--check and -r/--reboot)`);
    }
    return { kind: 'update-apply', check, reboot };
  }
  throw new UsageError(sub === undefined ? 'update: missing subcommand (check, apply or cancel)' : `update: unknown subcommand '${sub}' (check, apply or cancel)`);
}
