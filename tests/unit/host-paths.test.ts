// Workload host paths: resolved component by component on the host, never trusted lexically (issue 14.1).
// The resolution runs against a real temp tree; the rules are also fed made-up resolutions (bind mounts,
// kernel filesystems) that a test cannot set up without mounting.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { resolveHostPath, hostPathFacts, parseMountinfo, type HostPathPolicy } from '../../src/runtime/host-paths.js';
import { checkResolvedSources, hostPathProblem, resolutionChange, type HostPathFacts, type HostPathResolution, type ResolvedHostPath } from '../../src/ocispec/host-path-rules.js';
import { buildSpec } from '../../src/ocispec/index.js';
import type { SpecContext } from '../../src/ocispec/types.js';
import { validateUnit } from '../../src/units/index.js';
import type { Supervisor } from '../../src/supervisor/supervisor.js';
import { LogStore } from '../../src/supervisor/log-store.js';
import type { ExitInfo, ManagedContainer, Runtime, RunningTask, RuntimeEvent, StartGuard } from '../../src/runtime/types.js';
import { waitFor } from '../support/wait.js';
import { planned, testImages, testSupervisor } from '../support/supervisor.js';

let tmp: string;
let allow: string;
let outside: string;
let policy: HostPathPolicy;
let server: net.Server;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-hostpaths-'));
  allow = path.join(tmp, 'srv-data');
  outside = path.join(tmp, 'outside');
  const state = path.join(tmp, 'state');
  const run = path.join(tmp, 'run');
  for (const d of [allow, path.join(allow, 'data', 'sub'), outside, path.join(outside, 'x', 'y'), path.join(state, 'x'), run]) await mkdir(d, { recursive: true });
  await writeFile(path.join(outside, 'secret'), 'secret\n');
  await writeFile(path.join(allow, 'data', 'file'), 'ok\n');
  server = net.createServer();
  await new Promise<void>((r) => server.listen(path.join(run, 'api.sock'), r));
  policy = { hostPathAllowList: [allow], stateDir: state, runDir: run, apiSocketPath: path.join(run, 'api.sock') };
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(tmp, { recursive: true, force: true });
});

async function problem(source: string, p: HostPathPolicy = policy): Promise<string | undefined> {
  const facts = await hostPathFacts(new Map([[0, source]]), p);
  return hostPathProblem(facts.sources[0]!, facts);
}

describe('resolveHostPath', () => {
  it('returns a physical path unchanged, with every component\'s identity', async () => {
    const r = await resolveHostPath(path.join(allow, 'data'));
    assert.ok(r.ok);
    assert.equal(r.path.resolved, path.join(allow, 'data'));
    assert.equal(r.path.symlinks, 0);
    assert.equal(r.path.kind, 'directory');
    assert.deepEqual(r.path.chain.map((c) => c.path), ['/', ...path.join(allow, 'data').split('/').filter(Boolean).map((_, i, a) => `/${a.slice(0, i + 1).join('/')}`)]);
  });

  it('follows absolute and relative symlinks in any component', async () => {
    await symlink('/etc', path.join(allow, 'etc-link'));
    await symlink('outside/x', path.join(tmp, 'rel'));
    const abs = await resolveHostPath(path.join(allow, 'etc-link', 'passwd'));
    assert.ok(abs.ok);
    assert.equal(abs.path.resolved, '/etc/passwd');
    assert.equal(abs.path.symlinks, 1);
    const rel = await resolveHostPath(path.join(tmp, 'rel', 'y'));
    assert.ok(rel.ok);
    assert.equal(rel.path.resolved, path.join(outside, 'x', 'y'));
  });

  it('takes ".." from the physical directory, as the kernel does (not lexically)', async () => {
    await symlink(path.join(outside, 'x', 'y'), path.join(allow, 'deep'));
    // Lexically allow/deep/.. is allow itself; the kernel goes to outside/x.
    const r = await resolveHostPath(`${allow}/deep/..`);
    assert.ok(r.ok);
    assert.equal(r.path.resolved, path.join(outside, 'x'));
  });

  it('refuses loops, missing paths and files used as directories', async () => {
    await symlink(path.join(tmp, 'loop-b'), path.join(tmp, 'loop-a'));
    await symlink(path.join(tmp, 'loop-a'), path.join(tmp, 'loop-b'));
    const loop = await resolveHostPath(path.join(tmp, 'loop-a'));
    assert.ok(!loop.ok && /symlinks/.test(loop.reason));
    const missing = await resolveHostPath(path.join(allow, 'nope'));
    assert.ok(!missing.ok && /does not exist/.test(missing.reason));
    const notDir = await resolveHostPath(path.join(allow, 'data', 'file', 'x'));
    assert.ok(!notDir.ok && /not a directory/.test(notDir.reason));
  });
});

describe('parseMountinfo', () => {
  it('reads id, device, root and mount point, with octal escapes', () => {
    const m = parseMountinfo('21 26 0:20 / /proc rw,relatime - proc proc rw\n90 26 8:1 /srv/my\\040dir /mnt/a\\040b rw - ext4 /dev/sda1 rw\n');
    assert.deepEqual(m, [{ id: 21, dev: '0:20', root: '/', mountPoint: '/proc' }, { id: 90, dev: '8:1', root: '/srv/my dir', mountPoint: '/mnt/a b' }]);
  });
});

describe('host path rules, on the real filesystem', () => {
  it('allows a directory and a file inside the allow-list', async () => {
    assert.equal(await problem(path.join(allow, 'data')), undefined);
    assert.equal(await problem(path.join(allow, 'data', 'file')), undefined);
  });

  it('refuses a symlink out of the allowed tree, naming where it leads', async () => {
    const p = await problem(path.join(allow, 'etc-link'));
    assert.match(p ?? '', /resolves to \/etc\).*outside the allowed host paths/);
  });

  it('refuses a symlink to berth\'s run dir and to the API socket', async () => {
    await symlink(policy.runDir!, path.join(allow, 'run-link'));
    await symlink(policy.apiSocketPath, path.join(allow, 'sock-link'));
    assert.match((await problem(path.join(allow, 'run-link'))) ?? '', /berth's run directory/);
    assert.match((await problem(path.join(allow, 'sock-link'))) ?? '', /socket|run directory/);
  });

  it('refuses ".." out of the allowed tree, lexical or through a symlink', async () => {
    assert.match((await problem(`${allow}/../outside`)) ?? '', /outside the allowed host paths/);
    assert.match((await problem(`${allow}/deep/..`)) ?? '', /outside the allowed host paths/);
  });

  it('refuses the deny list even when the allow-list contains it', async () => {
    const everything = { ...policy, hostPathAllowList: ['/', '/proc', '/sys', '/dev', policy.stateDir, policy.runDir!, tmp] };
    for (const [source, why] of [
      ['/', /root filesystem/], ['/proc', /\/proc/], ['/proc/self', /\/proc/], ['/sys/kernel', /\/sys/], ['/dev', /\/dev/],
      [policy.stateDir, /state directory/], [path.join(policy.stateDir, 'x'), /state directory/], [policy.runDir!, /run directory/],
      [tmp, /state directory/], // an ancestor of the state dir exposes it
    ] as const) {
      assert.match((await problem(source, everything)) ?? 'allowed', why, source);
    }
  });

  it('refuses sockets and hard-linked files inside the allowed tree', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(path.join(allow, 'a.sock'), r));
    try {
      assert.match((await problem(path.join(allow, 'a.sock'))) ?? '', /is a socket/);
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
    await link(path.join(outside, 'secret'), path.join(allow, 'hard'));
    assert.match((await problem(path.join(allow, 'hard'))) ?? '', /2 hard links/);
  });

  it('an allow-list entry that is itself a symlink allows its target, and nothing lexical', async () => {
    await symlink(allow, path.join(tmp, 'allow-alias'));
    const p = { ...policy, hostPathAllowList: [path.join(tmp, 'allow-alias')] };
    assert.equal(await problem(path.join(allow, 'data'), p), undefined);
    assert.equal(await problem(path.join(tmp, 'allow-alias', 'data'), p), undefined);
    assert.match((await problem(path.join(tmp, 'allow-alias', 'etc-link'), p)) ?? '', /outside/);
  });
});

describe('host path rules, pure', () => {
  const root = { path: '/', dev: 1, ino: 2 };
  const resolution = (resolved: string, chain: ResolvedHostPath['chain'], over: Partial<ResolvedHostPath> = {}): HostPathResolution => ({
    ok: true, path: { requested: resolved, resolved, chain: [root, ...chain], kind: 'directory', nlink: 3, fsType: 0xef53, symlinks: 0, ...over },
  });
  const facts = (r: HostPathResolution): HostPathFacts => ({
    sources: { 0: r },
    allow: ['/srv/data'],
    deny: [
      { path: '/proc', why: 'the host\'s /proc', mode: 'inside', chain: [root, { path: '/proc', dev: 4, ino: 1 }] },
      { path: '/var/lib/berth', why: 'berth\'s state directory', mode: 'overlap', chain: [root, { path: '/var', dev: 1, ino: 10 }, { path: '/var/lib', dev: 1, ino: 11 }, { path: '/var/lib/berth', dev: 1, ino: 12 }] },
    ],
    apiSocket: { dev: 1, ino: 99 },
  });
  const srv = [{ path: '/srv', dev: 1, ino: 20 }, { path: '/srv/data', dev: 1, ino: 21 }];

  it('allows a plain directory inside the allow-list', () => {
    const r = resolution('/srv/data/a', [...srv, { path: '/srv/data/a', dev: 1, ino: 22 }]);
    assert.equal(hostPathProblem(r, facts(r)), undefined);
  });

  it('catches bind mounts by identity: of a denied tree, of an ancestor of one, of the host root', () => {
    const inState = resolution('/srv/data/b/x', [...srv, { path: '/srv/data/b', dev: 1, ino: 12 }, { path: '/srv/data/b/x', dev: 1, ino: 30 }]);
    assert.match(hostPathProblem(inState, facts(inState)) ?? '', /inside a bind mount of berth's state directory/);
    const ofVar = resolution('/srv/data/v', [...srv, { path: '/srv/data/v', dev: 1, ino: 10 }]);
    assert.match(hostPathProblem(ofVar, facts(ofVar)) ?? '', /bind mount of an ancestor of berth's state directory/);
    const ofRoot = resolution('/srv/data/r', [...srv, { path: '/srv/data/r', dev: 1, ino: 2 }]);
    assert.match(hostPathProblem(ofRoot, facts(ofRoot)) ?? '', /root filesystem/);
    const ofProc = resolution('/srv/data/p/1', [...srv, { path: '/srv/data/p', dev: 4, ino: 1 }, { path: '/srv/data/p/1', dev: 4, ino: 7 }], { fsType: 0xef53 });
    assert.match(hostPathProblem(ofProc, facts(ofProc)) ?? '', /bind mount of the host's \/proc/);
  });

  it('refuses kernel filesystems mounted anywhere, the API socket by identity, device nodes', () => {
    const proc = resolution('/srv/data/proc', [...srv, { path: '/srv/data/proc', dev: 9, ino: 1 }], { fsType: 0x9fa0 });
    assert.match(hostPathProblem(proc, facts(proc)) ?? '', /procfs/);
    const sock = resolution('/srv/data/s', [...srv, { path: '/srv/data/s', dev: 1, ino: 99 }], { kind: 'file', nlink: 1 });
    assert.match(hostPathProblem(sock, facts(sock)) ?? '', /API socket/);
    const dev = resolution('/srv/data/mem', [...srv, { path: '/srv/data/mem', dev: 1, ino: 50 }], { kind: 'device', nlink: 1 });
    assert.match(hostPathProblem(dev, facts(dev)) ?? '', /device node/);
  });

  it('refuses a bind source it has no facts for (never lexical when facts are given)', () => {
    const r = resolution('/srv/data/a', [...srv, { path: '/srv/data/a', dev: 1, ino: 22 }]);
    const { errors } = checkResolvedSources([0, 1], facts(r));
    assert.deepEqual(errors.map((e) => e.path), ['mounts[1].source']);
  });

  it('sees through bind mounts with the mount table: of a denied subtree, of an outside dir placed inside the allowed tree', () => {
    const r = resolution('/srv/data/b/x', [...srv, { path: '/srv/data/b', dev: 1, ino: 40 }, { path: '/srv/data/b/x', dev: 1, ino: 41 }]);
    const rootMount = { id: 1, dev: '8:1', root: '/', mountPoint: '/' };
    const mounted = (m: HostPathFacts['mounts']): HostPathFacts => ({ ...facts(r), mounts: m });
    // /var/lib/berth/logs bound at /srv/data/b: a subdir of the state dir, not caught by identities.
    const ofState = mounted([rootMount, { id: 2, dev: '8:1', root: '/var/lib/berth/logs', mountPoint: '/srv/data/b' }]);
    assert.match(hostPathProblem(r, ofState) ?? '', /bind mount of \/var\/lib\/berth\/logs\/x, which would expose berth's state directory/);
    // /etc bound at /srv/data/b: another name for a directory outside the allowed tree.
    const ofEtc = mounted([rootMount, { id: 2, dev: '8:1', root: '/etc', mountPoint: '/srv/data/b' }]);
    assert.match(hostPathProblem(r, ofEtc) ?? '', /bind mount of \/etc\/x, outside the allowed host paths/);
    // Submounts travel with a recursive bind of their parent.
    const parent = resolution('/srv/data/b', [...srv, { path: '/srv/data/b', dev: 1, ino: 40 }]);
    const below = { ...mounted([rootMount, { id: 3, dev: '0:5', root: '/', mountPoint: '/proc' }, { id: 4, dev: '0:5', root: '/', mountPoint: '/srv/data/b/p' }]), sources: { 0: parent } };
    assert.match(hostPathProblem(parent, below) ?? '', /bind mount of \/proc/);
    // Not refused: a filesystem of its own mounted inside the allowed dir, the allowed dir itself a bind of
    // a disk mounted elsewhere (the operator's choice), and plain directories on the root filesystem.
    assert.equal(hostPathProblem(r, mounted([rootMount, { id: 2, dev: '8:17', root: '/', mountPoint: '/srv/data/b' }])), undefined);
    assert.equal(hostPathProblem(r, mounted([rootMount, { id: 2, dev: '8:17', root: '/', mountPoint: '/mnt/disk' }, { id: 3, dev: '8:17', root: '/data', mountPoint: '/srv/data' }])), undefined);
    assert.equal(hostPathProblem(r, mounted([rootMount])), undefined);
  });

  it('resolutionChange names what changed', () => {
    const a = resolution('/srv/data/a', [...srv, { path: '/srv/data/a', dev: 1, ino: 22 }]);
    assert.equal(resolutionChange(a, a), undefined);
    const moved = resolution('/etc', [{ path: '/etc', dev: 1, ino: 5 }]);
    assert.match(resolutionChange(a, moved) ?? '', /resolved to \/srv\/data\/a when checked and now resolves to \/etc/);
    const swapped = resolution('/srv/data/a', [...srv, { path: '/srv/data/a', dev: 1, ino: 23 }]);
    assert.match(resolutionChange(a, swapped) ?? '', /\/srv\/data\/a was replaced/);
    assert.match(resolutionChange(a, { ok: false, requested: '/srv/data/a', reason: 'does not exist' }) ?? '', /no longer resolves/);
  });
});

const WORKLOAD = (source: string): Record<string, unknown> => ({
  name: 'wl', class: 'workload', image: 'localhost/x:1', mounts: [{ type: 'bind', source, destination: '/data', options: ['rw'] }],
});

function specContext(over: Partial<SpecContext> = {}): SpecContext {
  return {
    containerId: 'wl', namespace: 'test', stateDir: policy.stateDir, runDir: policy.runDir, apiSocketPath: policy.apiSocketPath,
    selinux: { mode: 'off', active: false }, mcs: [1, 2], hostPathAllowList: [allow],
    imageConfig: { env: [], entrypoint: ['/bin/sh'], cmd: [], workingDir: '', user: '' }, ...over,
  };
}

describe('spec building with resolved host paths', () => {
  it('hands runc the resolved path, and refuses an escape naming the field', async () => {
    await symlink('data', path.join(allow, 'current'));
    const ok = validateUnit(WORKLOAD(path.join(allow, 'current')));
    assert.ok(ok.ok);
    const facts = await hostPathFacts(new Map([[0, path.join(allow, 'current')]]), policy);
    const built = buildSpec(ok.unit, specContext({ hostPaths: facts }));
    assert.ok(built.ok);
    assert.equal(built.spec.mounts.find((m) => m.destination === '/data')?.source, path.join(allow, 'data'));

    const bad = validateUnit(WORKLOAD(path.join(allow, 'etc-link')));
    assert.ok(bad.ok);
    const badFacts = await hostPathFacts(new Map([[0, path.join(allow, 'etc-link')]]), policy);
    const refused = buildSpec(bad.unit, specContext({ hostPaths: badFacts }));
    assert.ok(!refused.ok);
    assert.equal(refused.errors[0]?.path, 'mounts[0].source');
    assert.match(refused.errors[0]?.message ?? '', /resolves to \/etc/);
  });

  it('lexically (no facts): the deny list still holds whatever the allow-list says', () => {
    for (const source of ['/', '/proc/1', '/sys', '/dev/shm', policy.stateDir, policy.runDir!]) {
      const u = validateUnit(WORKLOAD(source));
      assert.ok(u.ok);
      const r = buildSpec(u.unit, specContext({ hostPathAllowList: ['/', '/proc', '/sys', '/dev', policy.stateDir, policy.runDir!] }));
      assert.ok(!r.ok && r.errors.some((e) => e.path === 'mounts[0].source'), source);
    }
  });
});

/** A runtime that plays the host's part of a start: it runs the guard where a backend would. */
class GuardedRuntime implements Runtime {
  readonly name = 'guarded';
  readonly namespace = 'test';
  readonly images = testImages({ env: [], entrypoint: ['/bin/sh'], cmd: [], workingDir: '/', user: '' });
  /** Runs after the container is created, before the task: the window a swap would race. */
  betweenCreateAndTask: (() => Promise<void>) | undefined;
  tasks = 0;
  removed: string[] = [];
  async listManaged(): Promise<ManagedContainer[]> {
    return [];
  }
  async create(): Promise<void> {}
  async start(_id: string, _unit: string, guard?: StartGuard): Promise<RunningTask> {
    await this.betweenCreateAndTask?.();
    await guard?.beforeTaskCreate();
    this.tasks++;
    return { pid: 4242, exited: new Promise<ExitInfo>(() => undefined) };
  }
  async adopt(): Promise<RunningTask> {
    throw new Error('no adopt');
  }
  async rewait(): Promise<RunningTask> {
    throw new Error('no rewait');
  }
  async signal(): Promise<void> {}
  async remove(id: string): Promise<void> {
    this.removed.push(id);
  }
  async exec(): Promise<never> {
    throw new Error('no exec');
  }
  async taskState(): Promise<undefined> {
    return undefined;
  }
  async *watch(signal: AbortSignal): AsyncGenerator<RuntimeEvent> {
    await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
  }
}

describe('supervisor: host paths resolved and re-checked at every start', () => {
  async function withSupervisor(source: string, fn: (sup: Supervisor, rt: GuardedRuntime) => Promise<void>): Promise<void> {
    const rt = new GuardedRuntime();
    const sup = testSupervisor(rt, tmp, { logs: new LogStore(path.join(tmp, 'logs')) });
    const u = validateUnit(WORKLOAD(source));
    assert.ok(u.ok);
    try {
      await sup.setDesired(planned([u.unit], () => 'running', (unit) => {
        const { imageConfig: _image, ...ctx } = specContext({ containerId: unit.name });
        return ctx;
      }));
      await sup.run();
      await fn(sup, rt);
    } finally {
      sup.close();
    }
  }

  it('a swap between the check and the task create refuses the start: failed, naming the field', async () => {
    const vol = path.join(allow, 'vol');
    await mkdir(vol);
    await withSupervisor(vol, async (sup, rt) => {
      assert.equal(sup.get('wl')?.state, 'running');
      assert.equal(rt.tasks, 1);
      // The workload (or anyone writing to the allowed dir) swaps its source for a link to /etc, racing the restart.
      rt.betweenCreateAndTask = async () => {
        await rename(vol, `${vol}.old`);
        await symlink('/etc', vol);
      };
      await sup.restart('wl');
      const st = sup.get('wl');
      assert.equal(st?.state, 'failed');
      assert.match(st?.lastError ?? '', /mounts\[0\]\.source: host path .*vol changed since it was checked: it resolved to .*vol when checked and now resolves to \/etc/);
      assert.equal(rt.tasks, 1, 'no second task was created');
      await waitFor(() => rt.removed.includes('wl'), 5000, 'the refused container to be removed');
    });
  });

  it('a link planted before the restart is refused at the build, naming the field', async () => {
    const vol = path.join(allow, 'vol2');
    await mkdir(vol);
    await withSupervisor(vol, async (sup, rt) => {
      assert.equal(sup.get('wl')?.state, 'running');
      await rename(vol, `${vol}.old`);
      await symlink(policy.runDir!, vol);
      await sup.restart('wl');
      const st = sup.get('wl');
      assert.equal(st?.state, 'failed');
      assert.match(st?.lastError ?? '', /mounts\[0\]\.source: host path .*vol2 \(resolves to .*run\) would expose berth's run directory/);
      assert.equal(rt.tasks, 1);
    });
  });
});
