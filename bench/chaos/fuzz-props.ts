// In-process fuzz properties (fast-check, seeded): unit spec TOML, settings documents and `set` values.
// Shared by the chaos suite (R4, 100,000+ cases in full mode) and tests/unit/fuzz-parsers.test.ts (small
// counts, in `npm test`). Each property says: the parser never throws, never hangs, every rejection names
// the field it is about, and a rejected change leaves the store exactly as it was.
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import { parseUnit, specHash } from '../../src/units/index.js';
import { SettingsError, SettingsStore } from '../../src/settings/index.js';
import type { FileWriter } from '../../src/settings/persistence.js';

const SETTINGS_DEFAULTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../rootfs/usr/share/berth/settings.toml');

export interface FuzzOutcome {
  kind: string;
  cases: number;
  failures: string[];
  /** Slowest single case, ms (a parser that backtracks badly shows up here). */
  slowestMs: number;
}

const SLOW_MS = 2000;

// ---- generators ----------------------------------------------------------------------------------------

/** Names an attacker or a typo would use: traversal, separators, NUL, very long, unicode, empty. */
export const nastyName = fc.oneof(
  fc.constantFrom('..', '../etc', 'a/b', '/abs', 'a\0b', '\0', '', ' ', 'a b', '-lead', 'ÄÖ', 'a'.repeat(1000), 'a'.repeat(77), 'x'.repeat(76), 'CON', '.hidden', 'a..b', 'a\nb'),
  fc.string({ maxLength: 12 }),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
);

const hugeString = fc.constantFrom(70 * 1024, 65 * 1024, 64 * 1024, 1 << 20).map((n) => 'A'.repeat(n));

export const anyText = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.constantFrom('true', 'false', 'maybe', '0', '-1', '1e309', 'NaN', '[]', '{}', '["a"]', 'null', 'a,b', '"', '\\', '${x}', '%s', 'aGVsbG8=', 'not*base64', '/etc/passwd', '../../x', 'off', 'once', 'always', 'enforcing', 'docker', 'containerd', 'CAP_SYS_ADMIN', 'localhost/berth-test/busybox:latest') },
  { weight: 1, arbitrary: hugeString },
);

const UNIT_KEYS = ['name', 'class', 'image', 'command', 'args', 'env', 'working-dir', 'user', 'superpowered', 'mounts', 'user-data',
  'persistent-storage', 'capabilities', 'devices', 'namespaces', 'resources', 'restart', 'depends-on', 'health', 'stop', 'bootstrap', 'description'];
const SUB_KEYS = ['type', 'source', 'destination', 'options', 'size', 'mode', 'add', 'drop', 'memory', 'cpus', 'pids', 'policy', 'interval', 'timeout', 'retries', 'start-period', 'signal', 'essential', 'order', 'path', 'permissions', 'host-network', 'host-pid', 'command'];

const scalar = fc.oneof(anyText, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constantFrom(0, -1, 2 ** 53, 1e300));
const subTable = fc.dictionary(fc.constantFrom(...SUB_KEYS), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })), { maxKeys: 4 });
const unitValue = fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }), subTable, fc.array(subTable, { minLength: 1, maxLength: 3 }));
const unitObject = fc.record({
  name: fc.oneof(nastyName, fc.constant('app')),
  class: fc.constantFrom('host', 'bootstrap', 'workload', 'admin', '', 'HOST'),
  image: fc.oneof(anyText, fc.constant('localhost/x:1')),
}).chain((base) => fc.dictionary(fc.constantFrom(...UNIT_KEYS), unitValue, { maxKeys: 6 }).map((extra) => ({ ...base, ...extra })));

const VALID_UNIT = `name = "app"
class = "host"
image = "localhost/berth-test/busybox:latest"
command = ["/bin/sh", "-c", "sleep 1"]
env = { A = "b" }
persistent-storage = true
user-data = "aGVsbG8="
[[mounts]]
type = "tmpfs"
destination = "/tmp"
size = "16Mi"
[resources]
memory = "64Mi"
cpus = 0.5
[restart]
policy = "always"
[health]
command = ["/bin/true"]
interval = "1s"
[stop]
signal = "SIGTERM"
timeout = "5s"
`;

/** Text mutations: insert, delete, replace, duplicate lines — the way hand edits and bit rot break files. */
export function mutatedText(base: string): fc.Arbitrary<string> {
  const op = fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('"', '[', ']', '=', '\n', '{', '}', ',', '#', '\\', '\0', "'''", '"""', '[[', '.')), fc.constantFrom('ins', 'del', 'rep', 'dup'));
  return fc.array(op, { minLength: 1, maxLength: 4 }).map((ops) => {
    let s = base;
    for (const [pos, len, text, kind] of ops) {
      const at = s.length === 0 ? 0 : pos % s.length;
      if (kind === 'ins') s = s.slice(0, at) + text + s.slice(at);
      else if (kind === 'del') s = s.slice(0, at) + s.slice(at + len);
      else if (kind === 'rep') s = s.slice(0, at) + text + s.slice(at + text.length);
      else {
        const lines = s.split('\n');
        const i = at % Math.max(1, lines.length);
        lines.splice(i, 0, lines[i] ?? '');
        s = lines.join('\n');
      }
    }
    return s;
  });
}

function tomlOf(o: unknown): string | undefined {
  try {
    return stringify(o as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

export const unitToml = fc.oneof(
  { weight: 4, arbitrary: unitObject.map((o) => tomlOf(o) ?? '') },
  { weight: 4, arbitrary: mutatedText(VALID_UNIT) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '\0', 'a = [' + '['.repeat(5000), 'x = ' + '"'.repeat(3), `name = "${'a'.repeat(100_000)}"`, 'a.b.c.d.e.f.g = 1\n'.repeat(2000)) },
);

const NAME_PATTERNS = ['host-containers.<n>.enabled', 'host-containers.<n>.source', 'host-containers.<n>.superpowered', 'host-containers.<n>.user-data',
  'bootstrap-containers.<n>.source', 'bootstrap-containers.<n>.mode', 'bootstrap-containers.<n>.essential', 'bootstrap-containers.<n>.user-data',
  'container-registry.mirrors.<n>', 'container-registry.credentials.<n>.username', 'container-registry.credentials.<n>.password',
  'container-registry.insecure.<n>', 'host-containers.<n>', 'host-containers.<n>.enabeld'];
const FIXED_KEYS = ['selinux.mode', 'container-registry.ca-bundle', 'workloads.runtime', 'workloads.host-path-allow-list', 'workloads.allowed-capabilities',
  'workloads.require-memory-limit', 'images.pull-policy', 'settings.selinux.mode', 'selinux', 'selinux.mode.x', 'nope', '', '.', 'host-containers..enabled', 'settings'];

export const settingKey = fc.oneof(
  fc.tuple(fc.constantFrom(...NAME_PATTERNS), nastyName).map(([p, n]) => p.replace('<n>', n)),
  fc.constantFrom(...FIXED_KEYS),
  fc.string({ maxLength: 30 }),
);
export const settingValue = fc.oneof({ weight: 8, arbitrary: anyText }, { weight: 1, arbitrary: fc.array(anyText, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(null, 1, true, {}, { a: 1 }) });

function nest(key: string, value: unknown): Record<string, unknown> {
  const parts = key.split('.');
  let o: unknown = value;
  for (let i = parts.length - 1; i >= 0; i--) o = { [parts[i]!]: o };
  return o as Record<string, unknown>;
}

const VALID_DOC = '[settings.host-containers.admin]\nenabled = true\n[settings.selinux]\nmode = "permissive"\n[settings.workloads]\nallowed-capabilities = ["CAP_CHOWN"]\n';
export const settingsDocument = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.tuple(settingKey, settingValue), { minLength: 1, maxLength: 4 }).chain((kvs) => fc.constantFrom('toml', 'json').map((format) => {
    const doc: Record<string, unknown> = {};
    for (const [k, v] of kvs) Object.assign(doc, nest(k, v));
    const text = format === 'json' ? JSON.stringify({ settings: doc }) : tomlOf({ settings: doc }) ?? '';
    return { text, format: format as 'toml' | 'json' };
  })) },
  { weight: 4, arbitrary: fc.tuple(mutatedText(VALID_DOC), fc.constantFrom('toml' as const, 'json' as const)).map(([text, format]) => ({ text, format })) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 100 }), fc.constantFrom('toml' as const, 'json' as const)).map(([text, format]) => ({ text, format })) },
);

// ---- properties ----------------------------------------------------------------------------------------

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

/** parseUnit on random and mutated TOML: ok, or errors that each name a path (a key or a line). */
export function fuzzUnitToml(numRuns: number, seed: number): FuzzOutcome {
  const out: FuzzOutcome = { kind: 'unit spec TOML', cases: 0, failures: [], slowestMs: 0 };
  fc.assert(fc.property(unitToml, (text) => {
    out.cases++;
    let r;
    try {
      const t = timed(() => parseUnit(text, 'fuzz.toml'));
      r = t.value;
      out.slowestMs = Math.max(out.slowestMs, t.ms);
      if (t.ms > SLOW_MS) out.failures.push(`parseUnit took ${t.ms.toFixed(0)} ms on ${JSON.stringify(text.slice(0, 120))}`);
    } catch (e) {
      out.failures.push(`parseUnit threw ${(e as Error).message} on ${JSON.stringify(text.slice(0, 200))}`);
      return;
    }
    if (r.ok) {
      if (!/^[0-9a-f]{64}$/.test(specHash(r.unit))) out.failures.push('accepted unit without a spec hash');
      return;
    }
    if (r.errors.length === 0) out.failures.push(`rejected without errors: ${JSON.stringify(text.slice(0, 120))}`);
    for (const e of r.errors) {
      if (!e.path || !e.message) out.failures.push(`error without path/message ${JSON.stringify(e)} for ${JSON.stringify(text.slice(0, 120))}`);
    }
  }), { numRuns, seed, endOnFailure: false });
  return out;
}

/** An in-memory store: the writer keeps the last file in memory (the durability path is R5's business). */
async function memoryStore(): Promise<{ store: SettingsStore; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chaos-fuzz-'));
  const files = new Map<string, string>();
  const writer: FileWriter = async (file, data) => void files.set(file, data);
  const store = await SettingsStore.open({ stateDir: dir, defaultsFile: SETTINGS_DEFAULTS, writer });
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Checks one store operation: resolve, or a SettingsError naming the key (or the document line); no change on reject. */
async function checkSettingsOp(store: SettingsStore, op: () => Promise<unknown>, keys: string[], what: string, out: FuzzOutcome): Promise<void> {
  const before = JSON.stringify(store.getFlat());
  const t0 = performance.now();
  try {
    await op();
  } catch (e) {
    const after = JSON.stringify(store.getFlat());
    if (after !== before) out.failures.push(`rejected ${what} changed the store`);
    if (!(e instanceof SettingsError)) {
      out.failures.push(`${what}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    } else if (e.code !== 'empty' && e.code !== 'document' && e.issues.length === 0 && !keys.some((k) => k !== '' && e.message.includes(k))) {
      out.failures.push(`${what}: rejection names no field: ${e.message.slice(0, 200)}`);
    } else if (e.code === 'invalid' && e.issues.some((i) => i.key === '')) {
      out.failures.push(`${what}: an issue without a key: ${e.message.slice(0, 200)}`);
    } else if (e.code === 'persist' || e.code === 'load') {
      out.failures.push(`${what}: ${e.code} error from an in-memory store: ${e.message.slice(0, 200)}`);
    }
  }
  const ms = performance.now() - t0;
  out.slowestMs = Math.max(out.slowestMs, ms);
  if (ms > SLOW_MS) out.failures.push(`${what} took ${ms.toFixed(0)} ms`);
}

export async function fuzzSettingsDocuments(numRuns: number, seed: number): Promise<FuzzOutcome> {
  const out: FuzzOutcome = { kind: 'settings documents', cases: 0, failures: [], slowestMs: 0 };
  const { store, cleanup } = await memoryStore();
  try {
    await fc.assert(fc.asyncProperty(settingsDocument, async ({ text, format }) => {
      out.cases++;
      await checkSettingsOp(store, () => store.apply(text, format), [], `apply(${format} ${JSON.stringify(text.slice(0, 80))})`, out);
    }), { numRuns, seed, endOnFailure: false });
  } finally {
    await cleanup();
  }
  return out;
}

export async function fuzzSetValues(numRuns: number, seed: number): Promise<FuzzOutcome> {
  const out: FuzzOutcome = { kind: 'settings set values', cases: 0, failures: [], slowestMs: 0 };
  const { store, cleanup } = await memoryStore();
  try {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(settingKey, settingValue), { minLength: 1, maxLength: 3 }), async (kvs) => {
      out.cases++;
      const changes = Object.fromEntries(kvs);
      const shown = JSON.stringify(kvs.map(([k, v]) => [k.slice(0, 40), typeof v === 'string' ? v.slice(0, 40) : v]));
      await checkSettingsOp(store, () => store.set(changes), Object.keys(changes), `set ${shown}`, out);
    }), { numRuns, seed, endOnFailure: false });
  } finally {
    await cleanup();
  }
  return out;
}
