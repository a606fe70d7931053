import { constants, openSync, closeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { FifoPool } from './fifo-pool.js';
import net from 'node:net';
import path from 'node:path';

/** Where a task's stdio goes. */
export type StdioSpec =
  | { kind: 'null' }
  /** The shim appends stdout and stderr to this file itself (both must name it: API facts §5.3). */
  | { kind: 'file'; path: string }
  /** FIFOs in `dir`, read by this process; they outlive us so a new berthd can re-open them. */
  | { kind: 'fifo'; dir: string; stdin?: boolean; terminal?: boolean; poolDir?: string };

export interface TaskStdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface AttachedStdio {
  stdout: net.Socket;
  stderr?: net.Socket;
  stdin?: net.Socket;
  /** Closes our ends of the FIFOs. */
  close(): void;
}

const pools = new Map<string, FifoPool>();
/** One pool per directory; it must be on the FIFO dirs' filesystem, so a rename moves a FIFO into place. */
function poolFor(dir: string): FifoPool {
  let pool = pools.get(dir);
  if (!pool) pools.set(dir, (pool = new FifoPool(dir)));
  return pool;
}

export function fifoPaths(dir: string, processId: string, spec: { stdin?: boolean; terminal?: boolean }): TaskStdioPaths {
  return {
    stdin: spec.stdin ? path.join(dir, `${processId}-stdin`) : '',
    stdout: path.join(dir, `${processId}-stdout`),
    stderr: spec.terminal ? '' : path.join(dir, `${processId}-stderr`),
    terminal: spec.terminal ?? false,
  };
}

/** The paths to hand to Tasks.Create / Tasks.Exec, creating FIFOs first when needed. */
export async function prepareStdio(spec: StdioSpec, processId: string): Promise<TaskStdioPaths> {
  if (spec.kind === 'null') return { stdin: '', stdout: '', stderr: '', terminal: false };
  if (spec.kind === 'file') {
    await mkdir(path.dirname(spec.path), { recursive: true });
    const uri = `file://${spec.path}`;
    return { stdin: '', stdout: uri, stderr: uri, terminal: false };
  }
  await mkdir(spec.dir, { recursive: true, mode: 0o700 });
  const paths = fifoPaths(spec.dir, processId, spec);
  await poolFor(spec.poolDir ?? path.join(path.dirname(spec.dir), '.fifo-pool')).take([paths.stdin, paths.stdout, paths.stderr].filter(Boolean));
  return paths;
}

/**
 * Open our ends of a task's FIFOs. Read ends are opened non-blocking *before* Tasks.Create/Start, because
 * the shim's blocking open of the write end waits for a reader (API facts §5.3). Stdin is opened O_RDWR,
 * which never blocks and never fails with ENXIO before the shim has opened its end.
 */
export function attachStdio(paths: TaskStdioPaths): AttachedStdio {
  const openReader = (p: string): net.Socket => {
    const fd = openSync(p, constants.O_RDONLY | constants.O_NONBLOCK);
    return new net.Socket({ fd, readable: true, writable: false });
  };
  const stdout = openReader(paths.stdout);
  const stderr = paths.stderr ? openReader(paths.stderr) : undefined;
  let stdin: net.Socket | undefined;
  if (paths.stdin) {
    const fd = openSync(paths.stdin, constants.O_RDWR | constants.O_NONBLOCK);
    stdin = new net.Socket({ fd, readable: false, writable: true });
  }
  return {
    stdout,
    stderr,
    stdin,
    close() {
      for (const s of [stdout, stderr, stdin]) s?.destroy();
    },
  };
}

/** Best-effort close of a raw fd (used when an attach fails half-way). */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
