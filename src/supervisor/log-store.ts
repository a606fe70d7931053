import { EventEmitter } from 'node:events';
import { createWriteStream, fchmod, type WriteStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import type { LogSink } from '../runtime/types.js';
import type { LogLine } from './types.js';
import { wakeOrAbort } from '../util/abort.js';

export interface LogStoreOptions {
  /** Rotate a unit's log when it grows past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (`<unit>.log.1` …). */
  keep: number;
  onWriteError?: (unit: string, err: Error) => void;
}

const DEFAULTS: LogStoreOptions = { maxBytes: 10 << 20, keep: 2 };
/**
 * A unit's output may carry secrets (a workload printing its token): log files are root's, readable by
 * root's group only, in a dir others cannot list. Other users read logs through the API, which the socket's
 * permissions guard. berthd runs as root, so owner and group are root's without a chown.
 */
export const LOG_FILE_MODE = 0o640;
export const LOG_DIR_MODE = 0o750;
const MAX_LINE = 64 << 10;

interface UnitLog {
  stream: WriteStream;
  size: number;
  failed: boolean;
}

/**
 * Per-unit logs on disk: one JSON object per line (`{"t","s","l"}`), timestamped when berthd reads it,
 * rotated by size, written one line after another per unit. Followers get lines from memory as they are
 * written. A write error (disk full) drops lines but never stops supervision. The runtime's backends feed it
 * through LogSink (src/runtime/types.ts), the one method they need.
 */
export class LogStore implements LogSink {
  private readonly files = new Map<string, UnitLog>();
  /** Appends run one after another per unit, so lines keep their order across opens and rotations. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly bus = new EventEmitter();
  private readonly opts: LogStoreOptions;
  /** Bumped by remove(): lines still coming from a removed container's streams are dropped, not re-logged. */
  private readonly epochs = new Map<string, number>();
  private dirReady: Promise<void> | undefined;

  constructor(readonly dir: string, opts: Partial<LogStoreOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    this.bus.setMaxListeners(0);
  }

  file(unit: string): string {
    return path.join(this.dir, `${unit}.log`);
  }

  private async open(unit: string): Promise<UnitLog> {
    const existing = this.files.get(unit);
    if (existing) return existing;
    await this.prepareDir();
    // A file from an older berthd may have been created with a looser mode.
    await chmod(this.file(unit), LOG_FILE_MODE).catch(() => undefined);
    const size = await stat(this.file(unit)).then((s) => s.size, () => 0);
    const log: UnitLog = { stream: this.newStream(unit), size, failed: false };
    this.files.set(unit, log);
    return log;
  }

  /** Once per berthd: mkdir's mode applies to a new dir only (and is masked by the umask), so chmod too. */
  private prepareDir(): Promise<void> {
    this.dirReady ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: LOG_DIR_MODE });
      await chmod(this.dir, LOG_DIR_MODE);
    })();
    const ready = this.dirReady;
    // A failure (disk full, …) is retried at the next open rather than remembered forever.
    ready.catch(() => {
      if (this.dirReady === ready) this.dirReady = undefined;
    });
    return ready;
  }

  private newStream(unit: string): WriteStream {
    const stream = createWriteStream(this.file(unit), { flags: 'a', mode: LOG_FILE_MODE });
    // The create mode is masked by the umask; set it exactly, on the descriptor (no window, no path race).
    stream.once('open', (fd: number) => fchmod(fd, LOG_FILE_MODE, () => undefined));
    stream.on('error', (err) => {
      const log = this.files.get(unit);
      if (log && !log.failed) {
        log.failed = true;
        this.opts.onWriteError?.(unit, err);
      }
    });
    return stream;
  }

  private async rotate(unit: string, log: UnitLog): Promise<void> {
    log.stream.end();
    const base = this.file(unit);
    for (let i = this.opts.keep - 1; i >= 1; i--) await rename(`${base}.${i}`, `${base}.${i + 1}`).catch(() => undefined);
    await rename(base, `${base}.1`).catch(() => undefined);
    log.stream = this.newStream(unit);
    log.size = 0;
  }

  /** Append one line (already split) for a unit. */
  append(unit: string, stream: LogLine['stream'], line: string, at = new Date()): Promise<void> {
    const next = (this.chains.get(unit) ?? Promise.resolve()).then(() => this.write(unit, stream, line, at)).catch((e: Error) => this.opts.onWriteError?.(unit, e));
    this.chains.set(unit, next);
    return next;
  }

  private async write(unit: string, stream: LogLine['stream'], line: string, at: Date): Promise<void> {
    const entry: LogLine = { at: at.toISOString(), stream, line };
    const log = await this.open(unit);
    const text = `${JSON.stringify({ t: entry.at, s: stream === 'stdout' ? 'o' : 'e', l: line })}\n`;
    if (log.size + text.length > this.opts.maxBytes) await this.rotate(unit, log);
    if (log.failed) {
      // Retry after a failure (space may have come back); the stream must be replaced to recover.
      log.failed = false;
      log.stream = this.newStream(unit);
    }
    // Resolve once the line is in the file, not just in the stream's buffer, so a read right after an append
    // sees it. A failed write is reported by the stream's 'error' listener; the callback still comes.
    log.size += text.length;
    const written = new Promise<void>((resolve) => log.stream.write(text, () => resolve()));
    this.bus.emit(unit, entry);
    await written;
  }

  /** Read lines from a container stream until it ends, splitting on newlines (long lines are cut). */
  attach(unit: string, stream: LogLine['stream'], source: Readable): void {
    const decoder = new StringDecoder('utf8');
    const epoch = this.epochs.get(unit) ?? 0;
    let pending = '';
    const emit = (line: string): void => {
      if ((this.epochs.get(unit) ?? 0) === epoch) void this.append(unit, stream, line);
    };
    const flush = (text: string): void => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0 || pending.length > MAX_LINE) {
        const cut = nl >= 0 ? nl : MAX_LINE;
        emit(pending.slice(0, cut));
        pending = pending.slice(nl >= 0 ? cut + 1 : cut);
      }
    };
    source.on('data', (chunk: Buffer) => flush(decoder.write(chunk)));
    source.on('end', () => {
      flush(decoder.end());
      if (pending) emit(pending);
      pending = '';
    });
    source.on('error', () => undefined);
  }

  private async readLines(unit: string): Promise<LogLine[]> {
    const base = this.file(unit);
    const parts: string[] = [];
    for (let i = this.opts.keep; i >= 1; i--) parts.push(await readFile(`${base}.${i}`, 'utf8').catch(() => ''));
    parts.push(await readFile(base, 'utf8').catch(() => ''));
    const out: LogLine[] = [];
    for (const raw of parts.join('').split('\n')) {
      if (!raw) continue;
      try {
        const o = JSON.parse(raw) as { t: string; s: string; l: string };
        out.push({ at: o.t, stream: o.s === 'e' ? 'stderr' : 'stdout', line: o.l });
      } catch {
        /* a torn last line after a crash */
      }
    }
    return out;
  }

  /** The last `tail` lines (all when undefined), then, with `follow`, new lines until `signal` aborts. */
  async *read(unit: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncGenerator<LogLine> {
    const queue: LogLine[] = [];
    let wake: (() => void) | undefined;
    const onLine = (l: LogLine): void => {
      queue.push(l);
      wake?.();
    };
    // Subscribe before reading the file so nothing falls between the two; de-duplicate by position.
    if (opts.follow) this.bus.on(unit, onLine);
    try {
      let lines = await this.readLines(unit);
      // Lines that arrived after we subscribed may also be in the file already: they belong to the live
      // part (yielded from the queue), so drop them from the file's end before applying `tail`.
      const same = (a: LogLine, b: LogLine): boolean => a.at === b.at && a.line === b.line && a.stream === b.stream;
      if (opts.follow && queue.length > 0) {
        let k = Math.min(queue.length, lines.length);
        while (k > 0 && !lines.slice(lines.length - k).every((l, i) => same(l, queue[i]!))) k--;
        lines = lines.slice(0, lines.length - k);
      }
      const start = opts.tail === undefined ? 0 : Math.max(0, lines.length - opts.tail);
      for (const l of lines.slice(start)) yield l;
      if (!opts.follow) return;
      while (!opts.signal?.aborted) {
        while (queue.length > 0) yield queue.shift()!;
        if (opts.signal?.aborted) break;
        await wakeOrAbort(opts.signal, (w) => (wake = w));
        wake = undefined;
      }
    } finally {
      this.bus.off(unit, onLine);
    }
  }

  /**
   * Deletes a unit's log and its rotated files (a removed workload's output must not outlive it, nor show up
   * in a later workload of the same name). Runs after the unit's pending appends; lines its old streams still
   * deliver afterwards are dropped.
   */
  remove(unit: string): Promise<void> {
    this.epochs.set(unit, (this.epochs.get(unit) ?? 0) + 1);
    const next = (this.chains.get(unit) ?? Promise.resolve()).then(async () => {
      const log = this.files.get(unit);
      this.files.delete(unit);
      // 'close' rather than end's callback: it also comes for a stream that failed (disk full).
      if (log && !log.stream.closed) {
        await new Promise<void>((resolve) => {
          log.stream.once('close', () => resolve());
          log.stream.end();
        });
      }
      const base = this.file(unit);
      const files = [base, ...Array.from({ length: this.opts.keep }, (_, i) => `${base}.${i + 1}`)];
      await Promise.all(files.map((f) => rm(f, { force: true })));
    });
    // The chain keeps going after a failed removal; the caller still sees the failure.
    this.chains.set(unit, next.catch(() => undefined));
    return next;
  }

  async close(): Promise<void> {
    await Promise.all([...this.chains.values()]);
    await Promise.all([...this.files.values()].map((f) => new Promise<void>((r) => f.stream.end(r))));
    this.files.clear();
  }
}
