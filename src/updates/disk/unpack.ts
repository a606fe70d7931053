// A root image target is published compressed (gzip, as `berth-repo add` always took, or zstd, which inflates
// about four times faster) or as it is. Which one is told by the first bytes, not by the file name: the name
// is the publisher's choice, the magic number is what the bytes are. gzip inflates in Node's zlib (thread
// pool); zstd in the `zstd` command (Debian's zstd, on the image), fed and drained through pipes.
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, type TransformOptions } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';

export type Packing = 'gzip' | 'zstd' | 'none';

const GZIP = Buffer.from([0x1f, 0x8b]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The packing of a stream that starts with `head` (at least 4 bytes, or the whole stream if shorter). */
export function packingOf(head: Buffer): Packing {
  if (head.subarray(0, GZIP.length).equals(GZIP)) return 'gzip';
  if (head.subarray(0, ZSTD.length).equals(ZSTD)) return 'zstd';
  return 'none';
}

/** A stream that takes packed bytes and gives the image's bytes; `what` names the target in errors. */
export function unpacker(packing: Packing, what: string): Duplex {
  if (packing === 'none') return new PassThrough({ highWaterMark: 4 << 20 });
  if (packing === 'gzip') {
    // Room for a few chunks on both sides: zlib (in the thread pool) inflates ahead of the writes, and a
    // download feeding it is not held up chunk by chunk.
    const options: ZlibOptions & TransformOptions = { chunkSize: 1 << 20, readableHighWaterMark: 4 << 20, writableHighWaterMark: 4 << 20 };
    const gz = createGunzip(options);
    // The first listener, so whoever handles the error reads what it means.
    gz.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code?.startsWith('Z_')) e.message = `${what} is not a valid gzip stream: ${e.message}`;
    });
    return gz;
  }
  return zstdUnpacker(what);
}

function zstdUnpacker(what: string): Duplex {
  const child = spawn('zstd', ['--decompress', '--stdout', '--no-progress', '--quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 4 << 20 });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
  child.stdout.pipe(out, { end: false });
  // The output ends only once zstd has said how it ended: a truncated or corrupt frame is an error, not a
  // short image.
  const exited = new Promise<Error | undefined>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => resolve(new Error(e.code === 'ENOENT'
      ? `${what} is zstd-compressed and the zstd command is not installed`
      : `${what}: zstd could not run: ${e.message}`)));
    child.on('close', (code, sig) => resolve(code === 0 ? undefined
      : new Error(`${what} is not a valid zstd stream: zstd ${sig ? `was killed by ${sig}` : `exited ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`)));
  });
  void exited.then((err) => (err ? out.destroy(err) : out.end()));
  // A consumer that stops early (an error elsewhere) must not leave zstd running.
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.stdin.on('error', () => undefined); // EPIPE when zstd stops on bad input: its exit says why
  return Duplex.from({ writable: child.stdin, readable: out });
}
