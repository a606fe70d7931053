// In-memory implementations of the interfaces the API server is programmed against, for unit tests and
// benchmarks of the API itself (no containerd, no settings store). They behave just enough like the real
// ones to exercise every RPC: units change state, logs can be followed, exec runs a tiny command set.
import { PassThrough } from 'node:stream';
import type {
  ExecRequest, ExecSession, LogLine, StopObserver, SupervisorApi, SupervisorEvent, UnitState, UnitStatus,
} from '../../src/supervisor/types.js';
import { NotFoundError, ValidationError } from '../../src/api/errors.js';
import type { HostApi, ImagesApi, SettingsApi } from '../../src/api/services.js';

/** An unbounded async queue: producers push, one consumer iterates until the signal fires. */
class Feed<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | undefined;
  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }
  async *drain(signal?: AbortSignal): AsyncGenerator<T> {
    const onAbort = (): void => this.wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        const item = this.items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

export function fakeUnit(name: string, overrides: Partial<UnitStatus> = {}): UnitStatus {
  return {
    name,
    class: 'host',
    state: 'running',
    desired: 'running',
    image: `localhost/berth/${name}:latest`,
    superpowered: false,
    containerId: name,
    namespace: 'default',
    pid: 1000,
    restarts: 0,
    health: 'none',
    events: [{ at: '2024-01-01T00:00:00.000Z', state: 'running', message: 'started' }],
    ...overrides,
  };
}

/**
 * Exec commands: `sh -c 'exit N'` exits with N; `cat` echoes stdin until it is closed; `echo ARGS…` prints;
 * `fail MSG` writes MSG to stderr and exits 1; anything else exits 127.
 */
function fakeExec(req: ExecRequest, resizes: { cols: number; rows: number }[]): ExecSession {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let resolveExit: (code: number) => void = () => undefined;
  const exitCode = new Promise<number>((resolve) => (resolveExit = resolve));
  const finish = (code: number): void => {
    stdout.end();
    stderr.end();
    resolveExit(code);
  };
  const [cmd, ...args] = req.args;
  const sh = cmd === 'sh' && args[0] === '-c' ? /^exit (\d+)$/.exec(args[1] ?? '') : null;
  setImmediate(() => {
    if (sh) finish(Number(sh[1]));
    else if (cmd === 'cat') {
      stdin.pipe(stdout, { end: false });
      stdin.once('end', () => finish(0));
    } else if (cmd === 'echo') {
      stdout.write(`${args.join(' ')}\n`);
      finish(0);
    } else if (cmd === 'fail') {
      stderr.write(`${args.join(' ')}\n`);
      finish(1);
    } else {
      stderr.write(`${cmd ?? ''}: not found\n`);
      finish(127);
    }
  });
  const session: ExecSession = {
    stdin,
    stdout,
    resize: async (cols, rows) => {
      resizes.push({ cols, rows });
    },
    closeStdin: async () => {
      stdin.end();
    },
    exitCode,
  };
  if (!req.tty) session.stderr = stderr;
  return session;
}

export class FakeSupervisor implements SupervisorApi {
  readonly units = new Map<string, UnitStatus>();
  readonly logLines = new Map<string, LogLine[]>();
  readonly execRequests: ExecRequest[] = [];
  readonly resizes: { cols: number; rows: number }[] = [];
  /** Every exec session handed out, newest last. */
  readonly sessions: ExecSession[] = [];
  stoppedAll = false;
  private readonly logFeeds = new Set<{ unit: string; feed: Feed<LogLine> }>();
  private readonly eventFeeds = new Set<Feed<SupervisorEvent>>();

  constructor(units: UnitStatus[] = [fakeUnit('admin', { superpowered: true }), fakeUnit('control')]) {
    for (const u of units) this.units.set(u.name, u);
  }

  list(): UnitStatus[] {
    return [...this.units.values()];
  }
  get(name: string): UnitStatus | undefined {
    return this.units.get(name);
  }
  private transition(name: string, state: UnitState, desired: 'running' | 'stopped'): UnitStatus {
    const unit = this.units.get(name);
    if (!unit) throw new NotFoundError(`unknown unit ${JSON.stringify(name)}`);
    const at = new Date().toISOString();
    const next: UnitStatus = { ...unit, state, desired, pid: state === 'running' ? unit.pid + 1 : 0, events: [...unit.events, { at, state, message: `${state} on request` }] };
    this.units.set(name, next);
    this.emitEvent({ kind: 'unit', unit: name, state, message: `${state} on request`, at });
    return next;
  }
  async start(name: string): Promise<UnitStatus> {
    return this.transition(name, 'running', 'running');
  }
  async stop(name: string, onProgress?: StopObserver): Promise<UnitStatus> {
    const was = this.units.get(name)?.state;
    if (was === 'running') onProgress?.({ unit: name, phase: 'signal', signal: 'SIGTERM', timeoutMs: 10_000, elapsedMs: 0 });
    const unit = this.transition(name, 'stopped', 'stopped');
    onProgress?.(was === 'running' ? { unit: name, phase: 'stopped', exitCode: 143, elapsedMs: 5 } : { unit: name, phase: 'not-running', elapsedMs: 0, message: was ?? '' });
    return unit;
  }
  async restart(name: string): Promise<UnitStatus> {
    const unit = this.transition(name, 'running', 'running');
    const restarted = { ...unit, restarts: unit.restarts + 1 };
    this.units.set(name, restarted);
    return restarted;
  }
  async *logs(name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine> {
    if (!this.units.has(name)) throw new NotFoundError(`unknown unit ${JSON.stringify(name)}`);
    const entry = { unit: name, feed: new Feed<LogLine>() };
    if (opts.follow) this.logFeeds.add(entry);
    try {
      const lines = this.logLines.get(name) ?? [];
      yield* opts.tail === undefined ? lines : lines.slice(Math.max(0, lines.length - opts.tail));
      if (opts.follow) yield* entry.feed.drain(opts.signal);
    } finally {
      this.logFeeds.delete(entry);
    }
  }
  /** Appends a log line and hands it to every follower of that unit. */
  emitLog(unit: string, line: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const l: LogLine = { at: new Date().toISOString(), stream, line };
    this.logLines.set(unit, [...(this.logLines.get(unit) ?? []), l]);
    for (const f of this.logFeeds) if (f.unit === unit) f.feed.push(l);
  }
  /** Number of `logs --follow` streams open right now. */
  get followers(): number {
    return this.logFeeds.size;
  }
  get watchers(): number {
    return this.eventFeeds.size;
  }
  async exec(req: ExecRequest): Promise<ExecSession> {
    if (!this.units.has(req.unit)) throw new NotFoundError(`unknown unit ${JSON.stringify(req.unit)}`);
    this.execRequests.push(req);
    const session = fakeExec(req, this.resizes);
    this.sessions.push(session);
    return session;
  }
  async *events(signal: AbortSignal): AsyncIterable<SupervisorEvent> {
    const feed = new Feed<SupervisorEvent>();
    this.eventFeeds.add(feed);
    try {
      yield* feed.drain(signal);
    } finally {
      this.eventFeeds.delete(feed);
    }
  }
  emitEvent(e: SupervisorEvent): void {
    for (const f of this.eventFeeds) f.push(e);
  }
  status(): { ready: boolean; containerd: 'connected' | 'unavailable'; message: string } {
    return { ready: true, containerd: 'connected', message: 'all units up' };
  }
  async stopAll(onProgress?: StopObserver): Promise<void> {
    this.stoppedAll = true;
    for (const name of this.units.keys()) await this.stop(name, onProgress);
  }
}

const BOOLEAN_KEY = /^host-containers\.[A-Za-z0-9-]+\.(enabled|superpowered)$/;
const STRING_KEY = /^host-containers\.[A-Za-z0-9-]+\.source$/;

/** Settings with two key kinds (booleans and image sources under host-containers.<name>). */
export class FakeSettings implements SettingsApi {
  readonly values = new Map<string, boolean | string>([['host-containers.admin.enabled', false]]);
  private readonly txs = new Map<string, Map<string, boolean | string>>();

  private check(key: string, value: unknown): boolean | string {
    const k = key.replace(/^settings\./, '');
    if (BOOLEAN_KEY.test(k)) {
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      throw new ValidationError(k, `expected true or false, got ${JSON.stringify(value)}`);
    }
    if (STRING_KEY.test(k)) {
      if (typeof value === 'string' && value !== '') return value;
      throw new ValidationError(k, `expected an image reference, got ${JSON.stringify(value)}`);
    }
    throw new ValidationError(k, 'unknown setting');
  }
  private commitMap(changes: Map<string, boolean | string>): { changed: string[] } {
    const changed: string[] = [];
    for (const [k, v] of changes) {
      if (this.values.get(k) !== v) changed.push(k);
      this.values.set(k, v);
    }
    return { changed: changed.sort() };
  }
  private validated(values: Record<string, unknown>): Map<string, boolean | string> {
    return new Map(Object.entries(values).map(([k, v]) => [k.replace(/^settings\./, ''), this.check(k, v)]));
  }
  private flatten(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix === '' ? k : `${prefix}.${k}`;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) Object.assign(out, this.flatten(v as Record<string, unknown>, key));
      else out[key] = v;
    }
    return out;
  }

  async get(prefix?: string): Promise<unknown> {
    const root: Record<string, unknown> = {};
    for (const [key, value] of this.values) {
      if (prefix && key !== prefix && !key.startsWith(`${prefix}.`)) continue;
      const parts = key.split('.');
      let node = root;
      for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
      node[parts[parts.length - 1] as string] = value;
    }
    return root;
  }
  async set(values: Record<string, string>): Promise<{ changed: string[] }> {
    return this.commitMap(this.validated(values));
  }
  async setJson(json: string): Promise<{ changed: string[] }> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new ValidationError('json', 'invalid JSON');
    }
    return this.commitMap(this.validated(this.flatten(parsed as Record<string, unknown>)));
  }
  async apply(document: string, format: 'toml' | 'json'): Promise<{ changed: string[] }> {
    let doc: Record<string, unknown>;
    if (format === 'json') doc = JSON.parse(document) as Record<string, unknown>;
    else {
      const { parse } = await import('smol-toml');
      doc = parse(document) as Record<string, unknown>;
    }
    const settings = doc['settings'];
    if (typeof settings !== 'object' || settings === null) throw new ValidationError('settings', 'missing');
    return this.commitMap(this.validated(this.flatten(settings as Record<string, unknown>)));
  }
  async stage(tx: string, values: Record<string, string>): Promise<void> {
    const staged = this.txs.get(tx) ?? new Map<string, boolean | string>();
    for (const [k, v] of this.validated(values)) staged.set(k, v);
    this.txs.set(tx, staged);
  }
  async commit(tx: string): Promise<{ changed: string[] }> {
    const staged = this.txs.get(tx);
    if (!staged || staged.size === 0) throw new ValidationError('tx', `transaction ${JSON.stringify(tx)} has no staged changes`);
    this.txs.delete(tx);
    return this.commitMap(staged);
  }
  async discard(tx: string): Promise<void> {
    this.txs.delete(tx);
  }
  async pending(tx: string): Promise<Record<string, unknown>> {
    return Object.fromEntries(this.txs.get(tx) ?? []);
  }
  keys(): { pattern: string; description: string }[] {
    return [
      { pattern: 'host-containers.<name>.enabled', description: 'Whether the host container runs.' },
      { pattern: 'host-containers.<name>.superpowered', description: 'Whether it is privileged.' },
      { pattern: 'host-containers.<name>.source', description: 'Image the host container runs.' },
    ];
  }
}

export class FakeImages implements ImagesApi {
  readonly images = new Map<string, { name: string; digest: string; size: number }>([
    ['localhost/berth/admin:latest', { name: 'localhost/berth/admin:latest', digest: 'sha256:' + 'a'.repeat(64), size: 1234567 }],
  ]);
  async import(path: string, ref?: string): Promise<{ name: string; digest: string }[]> {
    const name = ref ?? `localhost/imported/${path.split('/').pop() ?? 'image'}:latest`;
    const image = { name, digest: 'sha256:' + 'b'.repeat(64), size: 42 };
    this.images.set(name, image);
    return [{ name, digest: image.digest }];
  }
  async list(): Promise<{ name: string; digest: string; size: number }[]> {
    return [...this.images.values()];
  }
  async remove(ref: string): Promise<void> {
    if (!this.images.delete(ref)) throw new NotFoundError(`image ${JSON.stringify(ref)} not found`);
  }
}

export function fakeHost(overrides: Partial<HostApi> = {}): HostApi {
  return {
    berthVersion: '0.1.0-test',
    selinux: async () => ({ enabled: true, mode: 'enforcing' }),
    containerdVersion: async () => '1.7.99-fake',
    ...overrides,
  };
}
