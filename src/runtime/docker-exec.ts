// `exec` on the Docker backend: a hijacked attach stream, demultiplexed without a TTY, turned into the
// runtime's ExecHandle. Docker reports an exec's exit only through inspect, polled once its stream ends.
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { ExecHandle } from './types.js';

/** Starts `args` in container `id`; errors are Docker's (the caller translates them). */
export async function dockerExec(docker: Dockerode, id: string, args: string[], opts: { tty: boolean; stdin: boolean; env?: string[] }): Promise<ExecHandle> {
  const ex = await docker.getContainer(id).exec({
    Cmd: args, AttachStdin: opts.stdin, AttachStdout: true, AttachStderr: true, Tty: opts.tty, ...(opts.env ? { Env: opts.env } : {}),
  });
  const stream = (await ex.start({ hijack: true, stdin: opts.stdin, Tty: opts.tty })) as NodeJS.ReadWriteStream & { destroy?: () => void };
  const stdout = new PassThrough();
  const stderr = opts.tty ? undefined : new PassThrough();
  if (stderr) docker.modem.demuxStream(stream, stdout, stderr);
  else stream.pipe(stdout);
  const ended = new Promise<void>((r) => {
    stream.on('end', r);
    stream.on('close', r);
    stream.on('error', () => r());
  });
  ended.then(() => {
    stdout.end();
    stderr?.end();
  }, () => undefined);
  const exited = ended.then(async () => {
    for (let i = 0; i < 50; i++) {
      const info = await ex.inspect();
      if (!info.Running) return info.ExitCode ?? 255;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 255;
  });
  const info = await ex.inspect();
  return {
    pid: info.Pid,
    stdin: opts.stdin ? (stream as unknown as Writable) : undefined,
    stdout: stdout as Readable,
    stderr,
    exited,
    resize: async (cols, rows) => {
      await ex.resize({ h: rows, w: cols });
    },
    closeStdin: async () => {
      stream.end();
    },
    kill: async () => {
      const pid = (await ex.inspect()).Pid;
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    },
    cleanup: async () => {
      stream.destroy?.();
    },
  };
}
