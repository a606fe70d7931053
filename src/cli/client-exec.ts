// berth.v1.Units/Exec from the client's side: the duplex call as node streams, with flow control both ways
// (grpc-js's write callbacks pace stdin; a slow reader of stdout/stderr pauses the call).
import * as grpc from '@grpc/grpc-js';
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { ExecRequest, WireExecInput, WireExecOutput } from '../wire/index.js';
import { ApiError, apiError } from './client-call.js';

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

/** Starts `req` on an open Exec call. */
export function execSession(call: grpc.ClientDuplexStream<WireExecInput, WireExecOutput>, req: ExecRequest): ExecHandle {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  call.write({
    start: { unit: req.unit, args: req.args, tty: req.tty, cols: req.cols ?? 0, rows: req.rows ?? 0, env: req.env ?? [] },
  });

  // grpc-js calls back once a message is handed to the transport: that is our stdin backpressure.
  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      call.write({ stdin: chunk }, () => cb());
    },
    final(cb) {
      call.write({ close_stdin: {} }, () => cb());
    },
  });
  stdin.on('error', () => undefined);

  let paused = 0;
  const relieve = (): void => {
    if (--paused === 0) call.resume();
  };
  const deliver = (target: PassThrough, data: Uint8Array): void => {
    if (!target.write(data)) {
      if (paused++ === 0) call.pause();
      target.once('drain', relieve);
    }
  };

  let settled = false;
  const exitCode = new Promise<number>((resolve, reject) => {
    const finish = (): void => {
      settled = true;
      stdout.end();
      stderr.end();
    };
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
        reject(new ApiError('exec ended without an exit status', grpc.status.UNKNOWN));
      }
    });
  });
  exitCode.catch(() => undefined);

  return {
    stdin,
    stdout,
    stderr,
    exitCode,
    resize: (cols, rows) => {
      if (!settled) call.write({ resize: { cols, rows } });
    },
    cancel: () => call.cancel(),
  };
}
