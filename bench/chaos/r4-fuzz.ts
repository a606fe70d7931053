// R4: fuzzing. In-process: unit spec TOML, settings documents, `set` values (fuzz-props.ts). Over the wire:
// every berth.v1 request message, sent to a real berthd with grpc-js directly — well-typed messages with
// random and mutated fields, and raw protobuf bytes with wrong wire types, unknown fields, truncations and
// huge strings. berthd must never crash or hang (same pid, still answering at the end), every
// INVALID_ARGUMENT must name the field, and a rejected request must change nothing stored (settings Get and
// the workload list identical before and after).
import * as grpc from '@grpc/grpc-js';
import net from 'node:net';
import { appendFile } from 'node:fs/promises';
import { processAlive } from '../../tests/support/wait.js';
import fc from 'fast-check';
import { berthService, BERTH_SERVICES } from '../../src/wire/proto.js';
import { BUSYBOX_REF } from '../../tests/support/images.js';
import { hostUnit, IDLE } from '../../tests/support/units.js';
import type { BerthClient } from '../../src/cli/client.js';
import { client, dropBerthd, newBerthd, removeAll, type ChaosEnv } from './env.js';
import { importArchive } from '../../src/images/import.js';
import { busyboxArchive } from '../../tests/support/images.js';

const FUZZ_NS = 'berth-fuzz';
import { anyText, fuzzSetValues, fuzzSettingsDocuments, fuzzUnitToml, mutatedText, nastyName, settingKey, type FuzzOutcome } from './fuzz-props.js';
import { Tally, type Row } from './lib.js';

type Method = grpc.MethodDefinition<unknown, unknown>;
interface Case {
  service: string;
  method: string;
  /** Well-typed message, or raw bytes (wrong types, unknown fields, truncations). */
  message?: Record<string, unknown>;
  raw?: Buffer;
  /** For Exec: further stream messages. */
  more?: Record<string, unknown>[];
}

// ---- raw protobuf -------------------------------------------------------------------------------------

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const rawField = fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom(0, 1, 2, 5, 3, 4, 6, 7), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(70 * 1024).fill(65))))
  .map(([field, wire, num, bytes]) => {
    const head = varint(BigInt((field << 3) | wire));
    if (wire === 0) return [...head, ...varint(num)];
    if (wire === 1) return [...head, ...new Array(8).fill(0).map((_, i) => Number((BigInt.asUintN(64, num) >> BigInt(8 * i)) & 0xffn))];
    if (wire === 5) return [...head, 1, 2, 3, 4];
    if (wire === 2) return [...head, ...varint(BigInt(bytes.length)), ...bytes];
    return [...head, ...bytes.slice(0, 3)]; // groups and invalid wire types
  });

const rawMessage = fc.oneof(
  fc.array(rawField, { maxLength: 6 }).map((fs) => Buffer.from(fs.flat())),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
);

/** A valid encoding, then mutated: bit flips, truncation, garbage appended. */
function mutateBytes(b: Buffer, r: { flip: number; cut: number; extra: Uint8Array }): Buffer {
  const c = Buffer.from(b);
  if (c.length > 0) c[r.flip % c.length] = c[r.flip % c.length]! ^ (1 << (r.flip % 8));
  const cut = c.length > 0 && r.cut % 3 === 0 ? c.subarray(0, r.cut % c.length) : c;
  return Buffer.concat([cut, Buffer.from(r.extra)]);
}

// ---- typed messages -------------------------------------------------------------------------------------

const str = fc.oneof({ weight: 5, arbitrary: anyText }, { weight: 2, arbitrary: nastyName }, { weight: 1, arbitrary: fc.constant('') });
const values = fc.dictionary(settingKey, anyText, { maxKeys: 3 });
const workloadSpec = fc.record({
  name: fc.oneof(nastyName, fc.constant('fz')),
  image: fc.oneof(str, fc.constant(BUSYBOX_REF)),
  command: fc.array(str, { maxLength: 3 }),
  env: fc.dictionary(str, str, { maxKeys: 2 }),
  memory_bytes: fc.option(fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 2 ** 53, 4096)), { nil: undefined }),
  cpus: fc.option(fc.oneof(fc.double(), fc.constantFrom(-1, 0, 1e9)), { nil: undefined }),
  pids: fc.option(fc.integer(), { nil: undefined }),
  mounts: fc.array(fc.record({ source: fc.oneof(str, fc.constantFrom('/', '/etc', '/run/berth', '/var/lib/berth', '/proc')), destination: str, read_only: fc.boolean() }), { maxLength: 2 }),
  restart: fc.oneof(str, fc.constantFrom('always', 'never', 'on-failure', 'ALWAYS', 'sometimes')),
  cap_add: fc.array(fc.oneof(str, fc.constantFrom('CAP_SYS_ADMIN', 'NET_ADMIN', 'CAP_CHOWN', 'ALL')), { maxLength: 2 }),
  privileged: fc.boolean(),
  host_network: fc.boolean(),
  host_pid: fc.boolean(),
  devices: fc.array(fc.oneof(str, fc.constantFrom('/dev/mem', '/dev/sda', '/dev/null')), { maxLength: 2 }),
});

function typed(service: string, method: string): fc.Arbitrary<Record<string, unknown>> {
  const key = `${service}.${method}`;
  switch (key) {
    case 'Settings.Get': return fc.record({ prefix: fc.oneof(str, settingKey) });
    case 'Settings.Set': return fc.record({ values });
    case 'Settings.SetJson': return fc.record({ json: fc.oneof(str, mutatedText('{"settings":{"selinux":{"mode":"permissive"}}}'), values.map((v) => JSON.stringify(v))) });
    case 'Settings.Apply': return fc.record({ document: fc.oneof(str, mutatedText('[settings.selinux]\nmode = "permissive"\n')), format: fc.oneof(str, fc.constantFrom('toml', 'json', 'yaml', 'TOML')) });
    case 'Settings.Stage': return fc.record({ tx: str, values });
    case 'Settings.Commit': case 'Settings.Discard': case 'Settings.Pending': return fc.record({ tx: str });
    case 'Units.Get': case 'Units.Start': case 'Units.Stop': case 'Units.Restart':
    case 'Workloads.Get': case 'Workloads.Start': case 'Workloads.Stop': case 'Workloads.Remove':
      return fc.record({ name: fc.oneof(str, fc.constantFrom('fz', 'keep')) });
    case 'Units.Logs': case 'Workloads.Logs': return fc.record({ name: fc.oneof(str, fc.constant('keep')), tail: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: undefined }), follow: fc.boolean() });
    case 'Images.Import': return fc.record({ path: fc.oneof(str, fc.constantFrom('/', '/etc/passwd', '/dev/null', '/proc/self/status', 'relative.tar', '/nonexistent.tar')), ref: str });
    case 'Images.Remove': case 'Images.Pull': return fc.record({ ref: str });
    case 'Workloads.Run': return fc.record({ spec: fc.option(workloadSpec, { nil: undefined }) });
    case 'Units.Exec': return fc.record({ start: fc.record({ unit: fc.oneof(str, fc.constant('keep')), args: fc.array(str, { maxLength: 3 }), tty: fc.boolean(), cols: fc.integer({ min: -1, max: 5000 }), rows: fc.integer({ min: -1, max: 5000 }), env: fc.array(str, { maxLength: 2 }) }) });
    default: return fc.constant({});
  }
}

const execMore = fc.array(fc.oneof(
  fc.record({ stdin: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)) }),
  fc.record({ resize: fc.record({ cols: fc.integer({ min: -5, max: 100_000 }), rows: fc.integer({ min: -5, max: 100_000 }) }) }),
  fc.constant({ close_stdin: {} }),
  fc.record({ start: fc.record({ unit: str, args: fc.array(str, { maxLength: 2 }) }) }),
), { maxLength: 4 });

function methodsOf(): { service: string; method: string; def: Method }[] {
  const out: { service: string; method: string; def: Method }[] = [];
  for (const s of BERTH_SERVICES) {
    const svc = berthService(s);
    for (const [m, def] of Object.entries(svc)) out.push({ service: s, method: m, def: def as Method });
  }
  return out;
}

// ---- sending --------------------------------------------------------------------------------------------

interface Outcome {
  code: number;
  details: string;
  /** The call outlived its deadline (a hang). */
  hung: boolean;
}

const UNARY_DEADLINE_MS = 20_000;

function send(ch: grpc.Client, def: Method, c: Case): Promise<Outcome> {
  const bytes = c.raw ?? (def.requestSerialize(c.message) as Buffer);
  const id = (x: Buffer): Buffer => x;
  const deadline = Date.now() + UNARY_DEADLINE_MS;
  return new Promise((resolve) => {
    const done = (err: grpc.ServiceError | null): void => resolve(err ? { code: err.code, details: err.details ?? '', hung: err.code === grpc.status.DEADLINE_EXCEEDED } : { code: 0, details: '', hung: false });
    if (!def.requestStream && !def.responseStream) {
      ch.makeUnaryRequest(def.path, id, id, bytes, new grpc.Metadata(), { deadline }, (err) => done(err));
      return;
    }
    // Streams: read until the server ends it, or stop after a while (a follow/watch is meant to stay open).
    const call = def.requestStream
      ? ch.makeBidiStreamRequest(def.path, id, id, new grpc.Metadata(), { deadline })
      : ch.makeServerStreamRequest(def.path, id, id, bytes, new grpc.Metadata(), { deadline });
    let settled = false;
    const finish = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(() => {
      call.cancel();
      finish({ code: 0, details: 'open stream cancelled by the client', hung: false });
    }, 400);
    call.on('data', () => undefined);
    call.on('error', (err: grpc.ServiceError) => finish({ code: err.code, details: err.details ?? '', hung: err.code === grpc.status.DEADLINE_EXCEEDED }));
    call.on('status', (s: grpc.StatusObject) => finish({ code: s.code, details: s.details, hung: false }));
    if (def.requestStream) {
      const w = call as grpc.ClientDuplexStream<Buffer, Buffer>;
      w.write(bytes);
      for (const m of c.more ?? []) {
        try {
          w.write(def.requestSerialize(m) as Buffer);
        } catch {
          /* a message protobufjs refuses to encode: skip */
        }
      }
      w.end();
    }
  });
}

/** Does an INVALID_ARGUMENT name the field: `<field or key>: why`, or mention a key the request sent? */
function namesField(details: string, c: Case): boolean {
  const m = /^([^\s:][^:]{0,300}?): /.exec(details);
  if (m && !/\s/.test(m[1]!.replace(/"[^"]*"/g, ''))) return true;
  const keys = Object.keys((c.message?.['values'] as Record<string, string> | undefined) ?? {});
  if (keys.some((k) => k.length > 0 && details.includes(k))) return true;
  // A settings key the request sent (in a JSON document, say) leading the message: "<key>: why".
  const sent = JSON.stringify(c.message ?? {});
  // Cut by the server (very long key): the message still starts with the key the request sent.
  if (/… \(\d+ more characters\)$/.test(details) && sent.includes(details.slice(0, 200))) return true;
  const esc = (x: string): string => JSON.stringify(x).slice(1, -1);
  // The message leads with the field: a unit-file style path (`env."a: b"`, `mounts[0].source`), or a key
  // the request sent (settings keys may hold any character, ': ' included).
  if (/^[\w\-[\]]+(\.("(?:[^"\\]|\\.)*"|[\w\-[\]]+))*: /.test(details)) return true;
  for (let at = details.indexOf(': '); at > 0; at = details.indexOf(': ', at + 1)) {
    const key = details.slice(0, at);
    if (sent.includes(key) || sent.includes(esc(key)) || sent.includes(esc(esc(key)))) return true;
  }
  return false;
}

export async function fuzzGrpc(socket: string, numRuns: number, seed: number, c: BerthClient, dead: () => Promise<string | undefined>, deadlineMs: number): Promise<FuzzOutcome & { perMethod: Record<string, number> }> {
  const out = { kind: 'gRPC requests', cases: 0, failures: [] as string[], slowestMs: 0, perMethod: {} as Record<string, number> };
  const methods = methodsOf();
  const ch = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 << 20 });
  const arbCase = fc.constantFrom(...methods).chain(({ service, method, def }) => fc.oneof(
    { weight: 6, arbitrary: fc.tuple(typed(service, method), execMore).map(([message, more]) => ({ service, method, message, more }) as Case) },
    { weight: 2, arbitrary: rawMessage.map((raw) => ({ service, method, raw }) as Case) },
    { weight: 2, arbitrary: fc.tuple(typed(service, method), fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 8 })).map(([m, flip, cut, extra]) => {
      let enc: Buffer;
      try {
        enc = def.requestSerialize(m) as Buffer;
      } catch {
        enc = Buffer.alloc(0);
      }
      return { service, method, raw: mutateBytes(enc, { flip, cut, extra }) } as Case;
    }) },
  ));
  const byName = new Map(methods.map((m) => [`${m.service}.${m.method}`, m.def]));
  const stored = async (): Promise<string> => JSON.stringify([await c.settings.get(undefined, { timeoutMs: 10_000 }), (await c.workloads.list({ timeoutMs: 10_000 })).map((w) => [w.request.name, w.status.desired])]);
  let crashed = false;
  let consecutiveHangs = 0;
  try {
    const until = Date.now() + deadlineMs;
    await fc.assert(fc.asyncProperty(arbCase, async (k) => {
      if (crashed) return;
      if (Date.now() > until) {
        if (!out.failures.some((f) => f.startsWith('deadline'))) out.failures.push(`deadline passed after ${out.cases} cases`);
        return;
      }
      if (consecutiveHangs >= 5) return; // reported already: berthd stopped answering
      out.cases++;
      await oneCase(k).catch((e: unknown) => void out.failures.push(`harness error on ${k.service}.${k.method}: ${(e as Error).message}`));
    }), { numRuns, seed, endOnFailure: false });
  } finally {
    ch.close();
  }
  return out;

  async function oneCase(k: Case): Promise<void> {
      const name = `${k.service}.${k.method}`;
      out.perMethod[name] = (out.perMethod[name] ?? 0) + 1;
      const def = byName.get(name)!;
      const tb = performance.now();
      const before = await stored();
      if (process.env['CHAOS_TRACE'] && performance.now() - tb > 1000) console.error(`stored() took ${(performance.now() - tb).toFixed(0)} ms`);
      const t0 = performance.now();
      let o: Outcome;
      try {
        if (process.env['CHAOS_TRACE']) console.error(`sending ${name} ${k.raw ? 'raw' : JSON.stringify(k.message).slice(0, 150)}`);
        o = await send(ch, def, k);
      } catch (e) {
        // protobufjs refused to encode the typed message on our side: nothing was sent.
        return void e;
      }
      out.slowestMs = Math.max(out.slowestMs, performance.now() - t0);
      if (process.env['CHAOS_TRACE']) console.error(`case ${out.cases} +${(performance.now() - t0).toFixed(0)}ms ${name} → ${grpc.status[o.code]} ${o.details.slice(0, 100)} ${k.raw ? 'raw' : JSON.stringify(k.message).slice(0, 150)}`);
      const why = o.code === grpc.status.UNAVAILABLE || o.code === grpc.status.CANCELLED ? await dead() : undefined;
      if (why) {
        crashed = true;
        out.failures.push(`berthd died on ${name} ${k.raw ? `raw ${k.raw.toString('hex').slice(0, 200)}` : JSON.stringify(k.message).slice(0, 400)}: ${why}`);
        return;
      }
      const shown = `${name} ${k.raw ? `raw ${k.raw.subarray(0, 40).toString('hex')}` : JSON.stringify(k.message, (_k, v: unknown) => (typeof v === 'string' && v.length > 60 ? `${v.slice(0, 60)}…(${v.length})` : v)).slice(0, 300)}`;
      if (o.hung) out.failures.push(`hang: ${shown}`);
      consecutiveHangs = o.hung ? consecutiveHangs + 1 : 0;
      if (consecutiveHangs === 5) out.failures.push('5 calls in a row hung: stopped sending');
      const S = grpc.status;
      if (o.code === S.UNKNOWN || (o.code === S.INTERNAL && !(k.raw && /deserializ/i.test(o.details)))) out.failures.push(`${S[o.code]} "${o.details.slice(0, 200)}" for ${shown}`);
      if (o.code === S.INVALID_ARGUMENT && !namesField(o.details, k)) out.failures.push(`INVALID_ARGUMENT names no field: "${o.details.slice(0, 200)}" for ${shown}`);
      if (o.code !== S.OK) {
        const after = await stored();
        if (after !== before) out.failures.push(`rejected (${S[o.code]}) request changed stored state: ${shown}`);
      } else if (name === 'Workloads.Run') {
        // An accepted random workload: remove it again so the fuzz berthd stays small.
        await c.workloads.remove(String((k.message?.['spec'] as { name?: string } | undefined)?.name ?? ''), { timeoutMs: 30_000 }).catch(() => undefined);
      }
  }
}

export async function r4Fuzz(env: ChaosEnv): Promise<Row[]> {
  const full = env.mode === 'full';
  const n = full ? { toml: 40_000, docs: 22_000, set: 28_000, grpc: 12_000 } : { toml: 800, docs: 400, set: 400, grpc: 300 };
  const rows: Row[] = [];
  const record = (o: FuzzOutcome, note: string): void => {
    const t = new Tally(`R4 fuzz: ${o.kind}`);
    t.runs = o.cases;
    for (const f of o.failures) t.fail(f);
    t.note = `${note}; slowest case ${o.slowestMs.toFixed(0)} ms`;
    rows.push(t.row());
  };
  const seed = env.seed;
  if (!process.env['CHAOS_R4_GRPC_ONLY']) {
    record(fuzzUnitToml(n.toml, seed), `parseUnit, seed ${seed}`);
    record(await fuzzSettingsDocuments(n.docs, seed), `SettingsStore.apply, seed ${seed}`);
    record(await fuzzSetValues(n.set, seed), `SettingsStore.set, seed ${seed}`);
  }

  const t = new Tally('R4 fuzz: gRPC requests to a live berthd');
  // Its own containerd namespace: the fuzz may remove images (even the test image) and stop units; the
  // scenarios after it must not see that.
  await env.cc.createNamespace(FUZZ_NS).catch(() => undefined);
  await importArchive(env.cc, await busyboxArchive(), { namespace: FUZZ_NS });
  const b = await newBerthd(env, { units: { keep: hostUnit('keep', IDLE) }, extraArgs: ['--namespace', FUZZ_NS] });
  // The fuzz calls every RPC, Updates.Reboot included: it must never reboot the machine the tests run on.
  await appendFile(b.settingsDefaults, '\n[settings.updates]\nreboot-command = "true"\n');
  let c: BerthClient | undefined;
  try {
    await b.start(120_000);
    c = client(b);
    const pid = b.pid;
    // "Dead" = the socket no longer accepts connections (checked with a fresh connection, not the channel,
    // which may be in reconnect backoff) or the process is gone.
    const dead = async (): Promise<string | undefined> => {
      const accepts = await new Promise<boolean>((resolve) => {
        const s = net.connect(b.socket);
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (accepts && processAlive(pid!)) return undefined;
      return `socket accepts ${accepts}, pid ${pid} alive ${processAlive(pid!)}; log: ${b.log().split('\n').slice(-12).join('\n')}`;
    };
    const o = await fuzzGrpc(b.socket, n.grpc, seed, c, dead, (full ? 10 : 3) * 60_000);
    t.runs = o.cases;
    for (const f of o.failures) t.fail(f);
    const alive = await c.host.version({ timeoutMs: 10_000 }).then(() => true, () => false);
    if (!alive || b.pid !== pid || b.child?.exitCode !== null || b.child?.signalCode !== null) t.fail(`berthd did not survive: answering ${alive}, exit ${b.child?.exitCode} ${b.child?.signalCode}`);
    t.note = `${Object.keys(o.perMethod).length} methods, seed ${seed}; slowest call ${o.slowestMs.toFixed(0)} ms; berthd pid unchanged and answering at the end`;
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    c?.close();
    await dropBerthd(env, b);
    await removeAll(env, FUZZ_NS);
  }
  rows.push(t.row());
  return rows;
}
