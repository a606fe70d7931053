// berth.v1.Units/Exec from the client's side: the duplex call as node streams, with flow control both ways
// (grpc-js's write callbacks pace stdin; a slow reader of stdout/stderr pauses the call). The handle is
// returned at once while the call opens (grpc-js loads on first use): everything written meanwhile follows
// the start message in order.
import type * as grpc from '@grpc/grpc-js';
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { ExecRequest, WireExecInput, WireExecOutput } from '../wire/index.js';
import { ApiError, STATUS, apiError } from './client-call.js';

type ExecCall = grpc.ClientDuplexStream<WireExecInput, WireExecOutput>;

export interface ExecHandle {
  /** Writes go to the process's stdin; ending it closes the process's stdin. */
  stdin: Writable;
  stdout: Readable;
  /** Empty with a TTY (the terminal merges the streams). */
  stderr: Readable;
  resize(cols: number, rows: number): void;
  /** Resolves with the exit code once all output has arrived. */
  exitCode: Promise<number>;
  /** Abandons the session (the server closes the process's stdin). */
  cancel(): void;
}

/** Starts `req` on an Exec call once it is open. */
export function execSession(open: Promise<ExecCall>, req: ExecRequest): ExecHandle {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let call: ExecCall | undefined;
  let cancelled = false;
  // Registered first, so the start message precedes anything written to stdin.
  const ready = open.then((c) => {
    call = c;
    c.write({ start: { unit: req.unit, args: req.args, tty: req.tty, cols: req.cols ?? 0, rows: req.rows ?? 0, env: req.env ?? [] } });
    if (cancelled) c.cancel();
    return c;
  });

  // grpc-js calls back once a message is handed to the transport: that is our stdin backpressure.
  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      ready.then((c) => c.write({ stdin: chunk }, () => cb()), () => cb());
    },
    final(cb) {
      ready.then((c) => c.write({ close_stdin: {} }, () => cb()), () => cb());
    },
  });
  stdin.on('error', () => undefined);

  let paused = 0;
  const relieve = (): void => {
    if (--paused === 0) call?.resume();
  };
  const deliver = (target: PassThrough, data: Uint8Array): void => {
    if (!target.write(data)) {
      if (paused++ === 0) call?.pause();
      target.once('drain', relieve);
    }
  };

  let settled = false;
  const listen = (call: ExecCall, finish: () => void, resolve: (code: number) => void, reject: (err: Error) => void): void => {
    call.on('data', (msg: WireExecOutput) => {
      if ('stdout' in msg && msg.stdout) deliver(stdout, msg.stdout);
      else if ('stderr' in msg && msg.stderr) deliver(stderr, msg.stderr);
      else if ('exit' in msg && msg.exit) {
        finish();
        call.end();
        resolve(msg.exit.code);
      }
    });
    call.on('error', (err) => {
      if (!settled) finish();
      reject(apiError(err));
    });
    call.on('end', () => {
      if (!settled) {
        finish();
        reject(new ApiError('exec ended without an exit status', STATUS.UNKNOWN));
      }
    });
  };

  const exitCode = new Promise<number>((resolve, reject) => {
    const finish = (): void => {
      settled = true;
      stdout.end();
      stderr.end();
    };
    ready.catch((err: unknown) => {
      finish();
      reject(apiError(err));
    });
    ready.then((call) => listen(call, finish, resolve, reject), () => undefined);
  });
  exitCode.catch(() => undefined);

  return {
    stdin,
    stdout,
    stderr,
    exitCode,
    resize: (cols, rows) => {
      if (!settled) void ready.then((c) => c.write({ resize: { cols, rows } }), () => undefined);
    },
    cancel: () => {
      cancelled = true;
      call?.cancel();
    },
  };
}
