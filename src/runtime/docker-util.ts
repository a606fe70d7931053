// Small pieces of the Docker backend kept apart from its container logic: what Docker's answers mean
// (errors, states) and how its event stream is read.
import type { ManagedContainer } from './types.js';
import { NotFoundError, RuntimeUnavailableError } from './errors.js';

/** Socket errors meaning the engine is not there (stopped, restarting, socket gone or not ours). */
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EACCES']);

/** One object of Docker's event stream (the fields berth reads). */
export interface DockerEvent {
  Type?: string;
  Action?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** The HTTP status of a failed Engine API call (dockerode puts it on the error). */
export function statusCode(e: unknown): number | undefined {
  const c = (e as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

/** Docker's failures as the runtime's errors (./errors.ts); the rest pass through as they are. */
export function toRuntimeError(e: unknown): unknown {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && UNAVAILABLE.has(code)) return new RuntimeUnavailableError(`docker: ${(e as Error).message}`, { cause: e });
  if (statusCode(e) === 404) return new NotFoundError(`docker: ${(e as Error).message}`, { cause: e });
  return e;
}

export function mapState(s: string | undefined): NonNullable<ManagedContainer['task']>['status'] {
  switch (s) {
    case 'running': case 'restarting': return 'running';
    case 'created': return 'created';
    case 'paused': return 'paused';
    case 'exited': case 'dead': case 'removing': return 'stopped';
    default: return 'unknown';
  }
}

export class Deferred<T> {
  resolve!: (v: T) => void;
  readonly promise = new Promise<T>((r) => (this.resolve = r));
}

/** Splits Docker's event stream (one JSON object per line) into objects. */
export function parseLines(stream: NodeJS.ReadableStream, onEvent: (e: DockerEvent) => void): void {
  let buf = '';
  stream.on('data', (chunk: Buffer | string) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) {
        try {
          onEvent(JSON.parse(line) as DockerEvent);
        } catch {
          /* not an event */
        }
      }
    }
  });
}
