// R7 security: hostile registries. A registry berth pulls from is untrusted: it may send endless or
// oversized blobs and manifests, claim absurd sizes, drip a byte at a time, hang, serve bytes that do not
// match their digest, or point its token realm at another host over plain HTTP to collect credentials.
// Each behaviour (tests/support/hostile-registry.ts) is tried against berth's puller on the chaos
// containerd — the pull must fail with the expected error, close the connection and leave nothing in the
// namespace — and then through a berthd, whose units must leave `preparing` and whose API must stay up.
import { writeFile } from 'node:fs/promises';
import { pullImage } from '../../src/images/pull.js';
import { registryConfig } from '../../src/images/registry/config.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { HostileRegistry, type Behaviour } from '../../tests/support/hostile-registry.js';
import { waitUnit } from '../../tests/support/units.js';
import { waitFor, withDeadline } from '../../tests/support/wait.js';
import { client, dropBerthd, newBerthd, type ChaosEnv } from './env.js';
import { now, Tally, type Row } from './lib.js';

const LAYER = 256 << 10;
const SOCKET_SLACK = 32 << 20;
let nsCounter = 0;

interface Case {
  behaviour: Behaviour;
  what: string;
  expect: RegExp;
  /** Short limits so each case ends in about a second; stall 60 s where only the deadline should act. */
  timeoutMs?: number;
  stallTimeoutMs?: number;
  withCredentials?: boolean;
}

const CASES: Case[] = [
  { behaviour: 'endless-blob', what: 'endless blob', expect: /larger than its descriptor says/ },
  { behaviour: 'huge-descriptor', what: 'descriptor claiming 1e15 bytes', expect: /claims 1000000000000000 bytes/ },
  { behaviour: 'endless-manifest', what: 'endless manifest', expect: /manifest .* larger than its descriptor says/ },
  { behaviour: 'endless-manifest-by-tag', what: 'endless manifest by tag', expect: /larger than the 4194304-byte limit/ },
  { behaviour: 'huge-manifest', what: 'manifest claiming 1e15 bytes', expect: /says the manifest is 1000000000000000 bytes/ },
  { behaviour: 'drip-blob', what: 'slow drip (blob)', expect: /stalled: only \d+ bytes in 1s/, stallTimeoutMs: 1000 },
  { behaviour: 'drip-manifest', what: 'slow drip (manifest)', expect: /stalled: (only \d+ bytes in|no bytes for) 1s/, stallTimeoutMs: 1000 },
  { behaviour: 'hang-blob', what: 'hanging blob', expect: /stalled: no bytes for 1s/, stallTimeoutMs: 1000 },
  { behaviour: 'slow-blob', what: 'too slow to stall, past the deadline', expect: /timed out after 1500ms/, timeoutMs: 1500, stallTimeoutMs: 60_000 },
  { behaviour: 'wrong-digest', what: 'wrong digest', expect: /failed verification/ },
  { behaviour: 'cross-host-realm', what: 'token realm on another host over http', expect: /were not sent to token realm http:\/\/127\.0\.0\.2/, withCredentials: true },
];

async function leftovers(cc: ContainerdClient, ns: string): Promise<string[]> {
  const call = { namespace: ns };
  const counts = {
    ingests: (await cc.listIngests([], call)).length,
    content: (await cc.listContent([], call)).length,
    images: (await cc.listImages([], call)).length,
    leases: (await cc.listLeases([], call)).length,
  };
  return Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k} left in ${ns}`);
}

async function puller(t: Tally, env: ChaosEnv, reg: HostileRegistry, c: Case): Promise<void> {
  await t.run(c.what, async () => {
    const ns = `r7-${process.pid}-${++nsCounter}`;
    const realmBefore = reg.realmSeen.length;
    const firstRequest = reg.seen.length;
    const registry = registryConfig({
      mirrors: new Map(),
      insecure: new Map([[reg.host, true]]),
      credentials: new Map(c.withCredentials ? [[reg.host, { username: 'robot', password: 'hunter2' }]] : []),
    });
    const started = now();
    let error: Error | undefined;
    try {
      await withDeadline(pullImage(env.cc, reg.ref(c.behaviour), {
        namespace: ns, registry, retry: { baseMs: 10, maxMs: 50 },
        ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
        ...(c.stallTimeoutMs !== undefined ? { stallTimeoutMs: c.stallTimeoutMs } : {}),
      }), 60_000, c.what);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    t.recovery(now() - started);
    const problems: string[] = [];
    if (!error) problems.push('the pull succeeded');
    else if (!c.expect.test(error.message)) problems.push(`unexpected error: ${error.message}`);
    const mine = reg.seen.slice(firstRequest).filter((r) => r.behaviour === c.behaviour);
    await waitFor(() => mine.every((r) => r.ended || r.closedEarly), 10_000, `${c.what}: connections closed`).catch((e: Error) => problems.push(e.message));
    const sent = Math.max(0, ...mine.map((r) => r.bytesSent));
    if (sent > LAYER + SOCKET_SLACK) problems.push(`the server got to send ${sent} bytes`);
    if (c.behaviour === 'huge-descriptor' && mine.some((r) => r.url.endsWith(reg.layerOf('huge-descriptor').digest))) problems.push('the 1e15-byte layer was requested');
    if (c.withCredentials && reg.realmSeen.slice(realmBefore).some((r) => r.authorization)) problems.push('credentials reached the other host\'s realm');
    problems.push(...(await leftovers(env.cc, ns)));
    await env.cc.deleteNamespace(ns).catch(() => undefined);
    return problems;
  });
}

/** Through berthd: hostile host containers leave `preparing` (stall setting, disable during a hang), the API stays up. */
async function throughBerthd(t: Tally, env: ChaosEnv, reg: HostileRegistry): Promise<void> {
  const b = await newBerthd(env, {});
  await writeFile(b.settingsDefaults, `[settings.selinux]\nmode = "auto"\n[settings.container-registry.insecure]\n"${reg.host}" = true\n[settings.images]\npull-stall-timeout = "1s"\n`);
  const c = client(b);
  try {
    await b.start();
    await t.run('berthd: endless blob and slow drip fail their units, which leave preparing', async () => {
      await c.settings.set({
        'host-containers.endless.source': reg.ref('endless-blob'), 'host-containers.endless.enabled': 'true',
        'host-containers.drip.source': reg.ref('drip-blob'), 'host-containers.drip.enabled': 'true',
      });
      const problems: string[] = [];
      const e = await waitUnit(c, 'endless', (u) => /larger than its descriptor/.test(u.lastError ?? ''), 30_000, 'endless to fail');
      const d = await waitUnit(c, 'drip', (u) => /stalled/.test(u.lastError ?? ''), 30_000, 'drip to fail as stalled');
      if (e.state === 'preparing' || d.state === 'preparing') problems.push(`still preparing: ${e.state}, ${d.state}`);
      await c.settings.set({ 'host-containers.endless.enabled': 'false', 'host-containers.drip.enabled': 'false' });
      await waitUnit(c, 'endless', (u) => u.state === 'stopped', 20_000, 'endless stopped');
      await waitUnit(c, 'drip', (u) => u.state === 'stopped', 20_000, 'drip stopped');
      return problems;
    });
    await t.run('berthd: disabling a unit whose pull hangs closes the connection at once', async () => {
      // A hang outlives no stall timeout: make the window long so that only the disable can end it.
      await c.settings.set({ 'images.pull-stall-timeout': '10m', 'host-containers.hang.source': reg.ref('hang-blob'), 'host-containers.hang.enabled': 'true' });
      const first = reg.seen.length;
      const hanging = (): HostileRegistry['seen'] => reg.seen.slice(first).filter((r) => r.url.endsWith(reg.layerOf('hang-blob').digest));
      await waitFor(() => hanging().length > 0, 30_000, 'the hanging blob request');
      const started = now();
      await c.settings.set({ 'host-containers.hang.enabled': 'false' });
      const u = await waitUnit(c, 'hang', (s) => s.state !== 'preparing', 10_000, 'hang to leave preparing');
      await waitFor(() => hanging().every((r) => r.closedEarly), 10_000, 'the hanging connection to close');
      t.recovery(now() - started);
      // The API still answers (a hanging registry holds up nothing else).
      await withDeadline(c.host.version(), 5_000, 'the API to answer');
      return u.state === 'stopped' ? [] : [`hang is ${u.state}`];
    });
  } finally {
    c.close();
    await dropBerthd(env, b);
  }
}

export async function r7Registry(env: ChaosEnv): Promise<Row[]> {
  const t = new Tally('R7 security: hostile registries');
  const reg = await HostileRegistry.start({ tickMs: 100, layerBytes: LAYER });
  try {
    const rounds = env.mode === 'full' ? 3 : 1;
    for (let i = 0; i < rounds; i++) for (const c of CASES) await puller(t, env, reg, c);
    await throughBerthd(t, env, reg);
    t.note = `${CASES.length} hostile behaviours × ${rounds} against the puller, 2 through berthd`;
  } finally {
    await reg.close();
  }
  return [t.row()];
}
