// berth.v1.Units/Exec: a bidirectional stream bridged to a supervisor ExecSession. Flow control runs both
// ways (a fast process cannot flood a slow client, a fast client cannot flood the process's stdin), and the
// exit message is sent only after all output, so a client that stops reading at `exit` has seen everything.
import type * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import type { ExecSession, SupervisorApi } from '../supervisor/types.js';
import { ActiveStreams, failStream } from './calls.js';
import { ValidationError } from './errors.js';
import { ARGS_MAX_ITEMS, ARGS_TOTAL_MAX_BYTES, ENV_MAX_VARS, ENV_TOTAL_MAX_BYTES, totalBytes } from '../units/limits.js';
import { requireUnit } from './unit-lookup.js';
import type { WireExecInput, WireExecOutput, WireExecStart } from '../wire/messages.js';

type ExecCall = grpc.ServerDuplexStream<WireExecInput, WireExecOutput>;

/** How long to wait for output to drain after the process exited (a daemonised child may hold the pipe). */
const OUTPUT_GRACE_MS = 2000;

function pump(stream: Readable, call: ExecCall, key: 'stdout' | 'stderr'): Promise<void> {
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer | string) => {
      // Nobody is listening any more: drop output rather than stall the process on a full pipe.
      if (call.cancelled) return;
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const msg = (key === 'stdout' ? { stdout: data } : { stderr: data }) as WireExecOutput;
      if (!call.write(msg)) {
        stream.pause();
        call.once('drain', () => stream.resume());
      }
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function checkStart(msg: WireExecInput | undefined): WireExecStart {
  if (!msg || !('start' in msg) || !msg.start) {
    throw new ValidationError('start', 'the first exec message must be start{unit, args, …}');
  }
  const start = msg.start;
  if (!start.args || start.args.length === 0) throw new ValidationError('args', 'a command to run is required');
  // An empty program name reached containerd and came back as UNKNOWN (chaos suite R4).
  if (start.args[0] === '') throw new ValidationError('args[0]', 'the program to run must not be empty');
  // The same limits as a unit's command and env (src/units/limits.ts).
  if (start.args.length > ARGS_MAX_ITEMS) throw new ValidationError('args', `at most ${ARGS_MAX_ITEMS} items, got ${start.args.length}`);
  const argBytes = totalBytes(start.args);
  if (argBytes > ARGS_TOTAL_MAX_BYTES) throw new ValidationError('args', `items total ${argBytes} bytes, at most ${ARGS_TOTAL_MAX_BYTES}`);
  const env = start.env ?? [];
  if (env.length > ENV_MAX_VARS) throw new ValidationError('env', `at most ${ENV_MAX_VARS} variables, got ${env.length}`);
  const envBytes = totalBytes(env);
  if (envBytes > ENV_TOTAL_MAX_BYTES) throw new ValidationError('env', `NAME=value strings total ${envBytes} bytes, at most ${ENV_TOTAL_MAX_BYTES}`);
  // runc refuses malformed entries only after containerd started the exec, answering UNKNOWN (chaos suite R4).
  (start.env ?? []).forEach((e, i) => {
    if (!/^[^=\0]+=[^\0]*$/.test(e)) throw new ValidationError(`env[${i}]`, `expected NAME=value, got ${JSON.stringify(e.slice(0, 80))}`);
  });
  return start;
}

/** Forwards stdin/resize/close_stdin until the client half-closes (which also closes the process's stdin). */
async function forwardInput(input: AsyncIterator<WireExecInput>, session: ExecSession, signal: AbortSignal): Promise<void> {
  let stdinClosed = false;
  const closeStdin = async (): Promise<void> => {
    if (stdinClosed) return;
    stdinClosed = true;
    await session.closeStdin();
  };
  for (;;) {
    const next = await input.next();
    if (next.done || signal.aborted) break;
    const msg = next.value;
    if ('stdin' in msg && msg.stdin) {
      if (stdinClosed) continue; // late bytes after close_stdin have nowhere to go
      if (!session.stdin.write(msg.stdin)) await once(session.stdin, 'drain', { signal }).catch(() => undefined);
    } else if ('resize' in msg && msg.resize) {
      // A resize is advisory: one racing the process's exit ("cannot resize a stopped container") must not
      // turn a finished exec into an error (chaos suite R4).
      await session.resize(msg.resize.cols, msg.resize.rows).catch(() => undefined);
    } else if ('close_stdin' in msg && msg.close_stdin) {
      await closeStdin();
    } else if ('start' in msg && msg.start) {
      throw new ValidationError('start', 'start may only be sent once');
    }
  }
  await closeStdin();
}

export function execHandler(supervisor: SupervisorApi, streams: ActiveStreams): grpc.handleBidiStreamingCall<WireExecInput, WireExecOutput> {
  return (call) => {
    const controller = streams.track(call);
    const signal = controller.signal;
    const input = (call as AsyncIterable<WireExecInput>)[Symbol.asyncIterator]();
    void (async () => {
      const start = checkStart((await input.next()).value as WireExecInput | undefined);
      const unit = requireUnit(supervisor, start.unit);
      // Not running is the caller's precondition, not an internal error (it was INTERNAL; chaos suite R4).
      if (unit.state !== 'running') throw Object.assign(new Error(`unit ${start.unit} is not running (state ${unit.state})`), { code: 9 /* FAILED_PRECONDITION */ });
      const s = await supervisor.exec({
        unit: start.unit,
        args: start.args,
        tty: start.tty,
        ...(start.cols > 0 ? { cols: start.cols } : {}),
        ...(start.rows > 0 ? { rows: start.rows } : {}),
        ...(start.env.length > 0 ? { env: start.env } : {}),
      }).catch((err: unknown) => {
        // runc's "program not found/not executable" arrives from containerd as UNKNOWN: it is a bad args[0].
        if (err instanceof Error && /executable file not found|no such file or directory|permission denied/.test(err.message)) throw new ValidationError('args[0]', err.message);
        throw err;
      });
      // A client that went away cannot send close_stdin any more; close it so an interactive shell ends.
      const onAbort = (): void => {
        if (call.cancelled) s.closeStdin().catch(() => undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      const outputs = [pump(s.stdout, call, 'stdout')];
      if (s.stderr) outputs.push(pump(s.stderr, call, 'stderr'));
      // Input problems (a bad second message) fail the call; the process is left to finish on its own.
      forwardInput(input, s, signal).catch((err: unknown) => {
        failStream(call, err);
        controller.abort();
      });
      const code = await s.exitCode;
      await Promise.race([Promise.all(outputs), delay(OUTPUT_GRACE_MS)]);
      if (call.cancelled || call.writableEnded) return;
      call.write({ exit: { code } });
      call.end();
    })()
      .catch((err: unknown) => failStream(call, err))
      .finally(() => controller.abort());
  };
}
