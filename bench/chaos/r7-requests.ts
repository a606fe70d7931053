// R7: oversized requests (issue 14, items 4 and 6). Each kind of oversized or too-deep request is sent to a
// live berthd while a second client keeps asking for unit status: every one must be refused with
// INVALID_ARGUMENT naming its field (never INTERNAL, never a stall), the status calls must keep being
// answered, and afterwards berthd is the same process with the same settings and workloads. A >5 MB
// workload list must still come back through `berthctl workloads ls`.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { BUSYBOX_REF } from '../../tests/support/images.js';
import { withDeadline } from '../../tests/support/wait.js';
import { berthClientConstructor } from '../../src/wire/proto.js';
import { ApiError, type BerthClient, type WorkloadRequest } from '../../src/cli/client.js';
import type { TestBerthd } from '../../tests/support/berthd.js';
import { client, dropBerthd, newBerthd, type ChaosEnv } from './env.js';
import { now, Tally, type Row } from './lib.js';

const execFileP = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');
const DEPTH = /document nests deeper than 64 levels/;
const N = 10_000;

const BASE: WorkloadRequest = {
  name: 'too-big', image: BUSYBOX_REF, command: ['/bin/true'], env: {}, mounts: [], restart: 'never', capAdd: [],
  privileged: false, hostNetwork: false, hostPid: false, devices: [],
};

function vars(n: number, value: (i: number) => string): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < n; i++) env[`V_${i}`] = value(i);
  return env;
}

/** The request kinds: what is sent, and the field its refusal must name (with the message it must carry). */
function kinds(c: BerthClient): Array<[string, () => Promise<unknown>, RegExp]> {
  const run = (over: Partial<WorkloadRequest>) => () => c.workloads.run({ ...BASE, ...over }, { timeoutMs: 30_000 });
  const deepHeaders = `[settings.${Array(N).fill('a').join('.')}]\nx = 1\n`;
  const deepArrayTables = `[[settings.${Array(N).fill('a').join('.')}]]\nx = 1\n`;
  const deepInline = `[settings]\nx = ${'{a = '.repeat(N)}1${' }'.repeat(N)}\n`;
  const deepJson = `{"settings":${'{"a":'.repeat(N)}1${'}'.repeat(N)}}`;
  const tooMany: Record<string, boolean> = {};
  for (let i = 0; i < 5000; i++) tooMany[`container-registry.insecure.r${i}.example`] = true;
  const tooManyContainers: Record<string, string> = {};
  for (let i = 0; i < 129; i++) tooManyContainers[`host-containers.r7-${i}.source`] = BUSYBOX_REF;
  const tooBig: Record<string, string[]> = {};
  for (let i = 0; i < 20; i++) tooBig[`container-registry.mirrors.m${i}.example`] = [`https://m.example/${'x'.repeat(60_000)}`];
  return [
    ['env count (30,000 variables)', run({ env: vars(30_000, (i) => `value-${i}`) }), /^env: at most 4096 variables, got 30000/],
    ['env value size (70,000 bytes)', run({ env: { FOO: 'x'.repeat(70_000) } }), /^env\.FOO: value is 70000 bytes/],
    ['env total size (40 × 30,000 bytes)', run({ env: vars(40, () => 'x'.repeat(30_000)) }), /^env: NAME=value strings total/],
    ['args count (30,000)', run({ command: Array(30_000).fill('x') }), /^command: at most 4096 items/],
    ['args size (9 × 128 KiB)', run({ command: Array(9).fill('x'.repeat(128 * 1024)) }), /^command: items total/],
    ['mounts (30,000)', run({ mounts: Array(30_000).fill({ source: '/srv', destination: '/d', readOnly: true }) }), /^mounts: at most 256 mounts/],
    ['cap_add (30,000)', run({ capAdd: Array(30_000).fill('CHOWN') }), /^cap_add: at most 256 items/],
    ['devices (30,000)', run({ devices: Array(30_000).fill('/dev/null') }), /^devices: at most 256 items/],
    ['whole spec (> 2 MiB)', run({ env: vars(31, () => 'x'.repeat(32_000)), command: Array(8).fill('y'.repeat(128_000)),
      mounts: Array.from({ length: 20 }, (_, i) => ({ source: `/srv/${'s'.repeat(4000)}`, destination: `/d${i}${'d'.repeat(4000)}`, readOnly: true })) }), /^spec: /],
    ['deep TOML: 10,000 table headers', () => c.settings.apply(deepHeaders, 'toml'), /^document: document nests deeper/],
    ['deep TOML: 10,000 [[array tables]]', () => c.settings.apply(deepArrayTables, 'toml'), /^document: document nests deeper/],
    ['deep TOML: 10,000 inline tables', () => c.settings.apply(deepInline, 'toml'), /^document: document nests deeper/],
    ['deep JSON: apply', () => c.settings.apply(deepJson, 'json'), /^document: document nests deeper/],
    ['deep JSON: set --json', () => c.settings.setJson(deepJson), /^json: document nests deeper/],
    ['deep JSON: a set value', () => c.settings.set({ 'workloads.host-path-allow-list': `${'['.repeat(N)}${']'.repeat(N)}` }), /^workloads\.host-path-allow-list: document nests deeper/],
    ['settings: 5,000 keys in one change', () => c.settings.setJson(JSON.stringify(tooMany)), /^settings: at most 4096 settings in one change/],
    ['settings: over 1 MiB in total', () => c.settings.setJson(JSON.stringify(tooBig)), /^settings: at most 1048576 bytes/],
    ['settings: 129 host containers', () => c.settings.setJson(JSON.stringify(tooManyContainers)), /^host-containers: at most 128 may be defined/],
  ];
}

async function refusedWith(p: Promise<unknown>, expected: RegExp): Promise<string[]> {
  try {
    await p;
    return ['accepted'];
  } catch (e) {
    if (!(e instanceof ApiError)) return [`not an API error: ${String(e)}`];
    const out: string[] = [];
    if (e.codeName !== 'INVALID_ARGUMENT') out.push(`code ${e.codeName}`);
    if (!expected.test(e.message)) out.push(`message ${JSON.stringify(e.message.slice(0, 160))} does not match ${expected}`);
    return out;
  }
}

async function state(c: BerthClient): Promise<string> {
  const [settings, workloads] = await Promise.all([c.settings.get(), c.workloads.list()]);
  return JSON.stringify({ settings, workloads: workloads.map((w) => w.request.name) });
}

export async function r7Requests(env: ChaosEnv): Promise<Row[]> {
  const t = new Tally('R7 security: oversized requests');
  let b: TestBerthd | undefined;
  let c: BerthClient | undefined;
  let poller: BerthClient | undefined;
  try {
    b = await newBerthd(env, {});
    await b.start(120_000);
    c = client(b);
    poller = client(b);
    const pid = b.pid;
    const before = await state(c);

    // Status calls from another client the whole time: none may fail or wait more than 5 s.
    let polling = true;
    let polls = 0;
    let worstPollMs = 0;
    // Which request was in flight when the slowest status call was made, for the note.
    let phase = 'start';
    let worstPhase = '';
    const pollProblems: string[] = [];
    const p = poller;
    // Bounded like every loop of the suite: a count and a deadline besides the flag.
    const pollDeadline = now() + 10 * 60_000;
    const pollLoop = (async () => {
      while (polling && polls < 1_000_000 && now() < pollDeadline) {
        const start = now();
        try {
          await withDeadline(p.units.list(), 5_000, 'a units list');
          polls++;
        } catch (e) {
          if (pollProblems.length < 3) pollProblems.push(e instanceof Error ? e.message : String(e));
        }
        const took = now() - start;
        if (took > worstPollMs) {
          worstPollMs = took;
          worstPhase = phase;
        }
      }
    })();

    for (const [what, send, expected] of kinds(c)) {
      phase = what;
      await t.run(what, () => refusedWith(send(), expected));
    }
    phase = 'huge list';

    // A >5 MB list: 7 workloads of ~960 KB (each within every limit; `/bin/true`, restart never).
    const big = Array.from({ length: 7 }, (_, i) => `r7-big-${i}`);
    await t.run('huge list: berthctl workloads ls with > 5 MB of workloads', async () => {
      const cl = c!;
      for (const name of big) await cl.workloads.run({ ...BASE, name, env: vars(32, (i) => String(i % 10).repeat(30_000)) }, { timeoutMs: 60_000 });
      const out: string[] = [];
      const { stdout } = await execFileP(process.execPath, [CLI, '--socket', b!.socket, '-o', 'json', 'workloads', 'ls'], { timeout: 60_000, maxBuffer: 64 << 20 });
      if (stdout.length < 5_000_000) out.push(`only ${stdout.length} bytes listed`);
      const names = (JSON.parse(stdout) as Array<{ request: { name: string } }>).map((w) => w.request.name);
      if (JSON.stringify(names) !== JSON.stringify(big)) out.push(`listed ${JSON.stringify(names)}`);
      // An older, unpaged client gets RESOURCE_EXHAUSTED with a reason, not a message it cannot receive.
      const Ctor = berthClientConstructor('Workloads');
      const raw = new Ctor(`unix://${b!.socket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
      try {
        const err = await withDeadline(new Promise<grpc.ServiceError | null>((resolve) => raw.List!({}, (e: grpc.ServiceError | null) => resolve(e))), 30_000, 'unpaged List');
        if (err?.code !== grpc.status.RESOURCE_EXHAUSTED) out.push(`unpaged List: ${err ? grpc.status[err.code] : 'OK'}`);
      } finally {
        raw.close();
      }
      for (const name of big) await cl.workloads.remove(name, { timeoutMs: 60_000 });
      return out;
    });

    polling = false;
    await pollLoop;
    await t.run('status calls answered throughout', async () => (pollProblems.length > 0 || polls === 0 ? [`${polls} answered; ${pollProblems.join('; ')}`] : []));
    await t.run('berthd still answers, same process, nothing changed', async () => {
      const out: string[] = [];
      if (b!.pid !== pid || b!.child?.exitCode !== null) out.push('berthd exited');
      await withDeadline(c!.host.version(), 5_000, 'version');
      const after = await state(c!);
      if (after !== before) out.push(`state changed: ${after.slice(0, 200)} (was ${before.slice(0, 200)})`);
      return out;
    });
    t.note = `${polls} status calls answered meanwhile, slowest ${Math.round(worstPollMs)} ms (during: ${worstPhase})`;
    t.recovery(worstPollMs);
  } catch (e) {
    t.fail(`setup: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    c?.close();
    poller?.close();
    if (b) await dropBerthd(env, b);
  }
  return [t.row()];
}
