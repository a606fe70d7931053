import { EventEmitter } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import type { LogLine } from './types.js';

export interface LogStoreOptions {
  /** Rotate a unit's log when it grows past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (`<unit>.log.1` …). */
  keep: number;
  onWriteError?: (unit: string, err: Error) => void;
}

const DEFAULTS: LogStoreOptions = { maxBytes: 10 << 20, keep: 2 };
const MAX_LINE = 64 << 10;

interface UnitLog {
  stream: WriteStream;
  size: number;
  failed: boolean;
}

/**
 * Per-unit logs on disk: one JSON object per line (`{"t","s","l"}`), timestamped when berthd reads it,
 * rotated by size, written one line after another per unit. Followers get lines from memory as they are written. A write error (disk full) drops
 * lines but never stops supervision.
 */
export class LogStore {
  private readonly files = new Map<string, UnitLog>();
  /** Appends run one after another per unit, so lines keep their order across opens and rotations. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly bus = new EventEmitter();
  private readonly opts: LogStoreOptions;

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
    await mkdir(this.dir, { recursive: true });
    const size = await stat(this.file(unit)).then((s) => s.size, () => 0);
    const log: UnitLog = { stream: this.newStream(unit), size, failed: false };
    this.files.set(unit, log);
    return log;
  }

  private newStream(unit: string): WriteStream {
    const stream = createWriteStream(this.file(unit), { flags: 'a' });
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
    let pending = '';
    const flush = (text: string): void => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0 || pending.length > MAX_LINE) {
        const cut = nl >= 0 ? nl : MAX_LINE;
        void this.append(unit, stream, pending.slice(0, cut));
        pending = pending.slice(nl >= 0 ? cut + 1 : cut);
      }
    };
    source.on('data', (chunk: Buffer) => flush(decoder.write(chunk)));
    source.on('end', () => {
      flush(decoder.end());
      if (pending) void this.append(unit, stream, pending);
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
        await new Promise<void>((resolve) => {
          wake = resolve;
          opts.signal?.addEventListener('abort', () => resolve(), { once: true });
        });
        wake = undefined;
      }
    } finally {
      this.bus.off(unit, onLine);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.chains.values()]);
    await Promise.all([...this.files.values()].map((f) => new Promise<void>((r) => f.stream.end(r))));
    this.files.clear();
  }
}
