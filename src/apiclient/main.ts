// berth-apiclient: Bottlerocket's `apiclient` on berth's API socket, so Bottlerocket's update operator (brupop)
// drives a berth host with its agent unmodified (it runs `apiclient raw -u PATH -m METHOD` and parses the
// JSON and the failure line). Exit 0 on success, 1 on a failed request (stderr: apiclient's failure line),
// 2 on a bad command line. One short-lived process per call: no gRPC stack (berthctl's HTTP/2 unary client).
import { DEFAULT_SOCKET } from '../cli/context.js';
import { BerthClient } from '../cli/client.js';
import { parseArgs, USAGE, UsageError, type ApiclientArgs } from './args.js';
import { failureLine, REASONS, route, type UpdatesBackend } from './routes.js';
import { CommandFailed, reboot, updateApply, updateCancel, updateCheck } from './update.js';

function finish(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

const out = (text: string): void => void process.stdout.write(text);
const err = (text: string): void => void process.stderr.write(text);

async function run(args: ApiclientArgs, backend: UpdatesBackend): Promise<number> {
  const c = args.command;
  switch (c.kind) {
    case 'help':
      out(`${USAGE}\n`);
      return 0;
    case 'raw': {
      const req = { method: c.method, uri: c.uri, ...(c.data !== undefined ? { body: c.data } : {}) };
      const res = await route(req, backend);
      if (args.verbose) err(`${res.status} ${REASONS[res.status] ?? ''}\n`);
      if (res.status >= 300) {
        err(`${failureLine(req, res)}\n`);
        return 1;
      }
      if (res.body !== '') out(`${res.body}\n`);
      // stdout stays the body (a 204 has none); the reboot's answer goes beside it.
      if (res.note) err(`${res.note}\n`);
      return 0;
    }
    case 'update-check':
      await updateCheck(backend, out);
      return 0;
    case 'update-apply':
      await updateApply(backend, c, out, err);
      return 0;
    case 'update-cancel':
      await updateCancel(backend);
      return 0;
    case 'reboot':
      await reboot(backend, out);
      return 0;
  }
}

/** The client's calls, with "cannot reach" failures naming the socket (where an operator looks first). */
function naming(b: UpdatesBackend, socketPath: string): UpdatesBackend {
  const wrap = <T>(call: () => Promise<T>): Promise<T> =>
    call().catch((e: unknown) => {
      if (e instanceof Error && (e as { code?: unknown }).code === 14) e.message = `cannot reach berthd at ${socketPath}: ${e.message.replace(/\.?\s*Resolution note:\s*$/, '')}`;
      throw e;
    });
  return {
    status: () => wrap(() => b.status()), check: () => wrap(() => b.check()), prepare: () => wrap(() => b.prepare()),
    activate: () => wrap(() => b.activate()), deactivate: () => wrap(() => b.deactivate()), reboot: (o) => wrap(() => b.reboot(o)),
  };
}

async function main(argv: readonly string[]): Promise<number> {
  let args: ApiclientArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  const socketPath = args.socketPath ?? (process.env['BERTH_SOCKET'] || DEFAULT_SOCKET);
  const client = BerthClient.connect({ socketPath, unary: 'http2' });
  try {
    return await run(args, naming(client.updates, socketPath));
  } catch (e) {
    err(`${e instanceof CommandFailed ? e.message : `berth-apiclient: ${e instanceof Error ? e.message : String(e)}`}\n`);
    return 1;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then(finish, (e: unknown) => {
  err(`berth-apiclient: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  finish(1);
});
