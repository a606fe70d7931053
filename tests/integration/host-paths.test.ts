// Issue 14.1 end to end (containerd, and the main cases on Docker): workload host paths are resolved on the host, never trusted lexically, and checked
// again at every start. berthd (child process) against a private containerd whose `runc` is wrapped, so a
// test can swap a bind source at the exact moment runc mounts it (the race the post-create check closes).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { access, chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { TestDockerd } from '../support/dockerd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { IDLE, waitUnit } from '../support/units.js';
import { withDeadline } from '../support/wait.js';
import { importArchive } from '../../src/images/import.js';
import { ApiError, BerthClient, type WorkloadInfo, type WorkloadRequest } from '../../src/cli/client.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { WORKLOAD_NAMESPACE } from '../../src/workloads/wiring.js';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;
const SECRET = `TOPSECRET-${process.pid}-${Date.now()}`;

function request(name: string, over: Partial<WorkloadRequest> = {}): WorkloadRequest {
  return {
    name, image: BUSYBOX_REF, command: ['/bin/sh', '-c', IDLE], env: {}, memoryBytes: 64 * MiB, mounts: [], restart: 'always',
    capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [], ...over,
  };
}

async function waitWorkload(client: BerthClient, name: string, pred: (w: WorkloadInfo) => boolean, timeoutMs: number, what: string): Promise<WorkloadInfo> {
  let last: WorkloadInfo | undefined;
  const run = (async () => {
    for (;;) {
      last = await client.workloads.get(name).catch(() => undefined);
      if (last && pred(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return await withDeadline(run, timeoutMs, `${name}: ${what}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last: ${JSON.stringify(last?.status)}`);
  }
}

async function logText(client: BerthClient, name: string): Promise<string> {
  const lines: string[] = [];
  for await (const l of client.workloads.logs(name)) lines.push(l.line);
  return lines.join('\n');
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a refusal, the request was accepted');
}

let wrapDir: string;
let ctd: TestContainerd;
let wcc: ContainerdClient;
let hcc: ContainerdClient;
let b: TestBerthd;
let client: BerthClient;
let allowDir: string;
let outside: string;

before(async () => {
  wrapDir = await mkdtemp(path.join(os.tmpdir(), 'bhp-runc-'));
  const realRunc = execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim();
  // While ${wrapDir}/swap names a path and a link target, the next `runc create` first swaps that path for
  // a symlink (once): someone racing berth between its last check and runc's mount.
  await writeFile(path.join(wrapDir, 'runc'), `#!/bin/sh
for a in "$@"; do
  if [ "$a" = create ] && [ -e ${wrapDir}/swap ]; then
    read src target < ${wrapDir}/swap; rm -f ${wrapDir}/swap
    mv "$src" "$src.old" && ln -s "$target" "$src" && echo "$src" > ${wrapDir}/swapped
  fi
done
exec ${realRunc} "$@"
`);
  await chmod(path.join(wrapDir, 'runc'), 0o755);
  ctd = await TestContainerd.start({ pathPrefix: wrapDir });
  wcc = ctd.client(WORKLOAD_NAMESPACE);
  hcc = ctd.client('berth');
  await importArchive(wcc, await busyboxArchive(), { namespace: WORKLOAD_NAMESPACE });
  await importArchive(hcc, await busyboxArchive(), { namespace: 'berth' });
  allowDir = await mkdtemp(path.join(os.tmpdir(), 'bhp-allow-'));
  outside = await mkdtemp(path.join(os.tmpdir(), 'bhp-outside-'));
  await writeFile(path.join(outside, 'secret.txt'), `${SECRET}\n`);
  await symlink('/etc', path.join(allowDir, 'link'));
  for (const d of ['a/vol', 'r/vol', 'plain']) await mkdir(path.join(allowDir, d), { recursive: true });
  await writeFile(path.join(allowDir, 'a', 'vol', 'mine.txt'), 'mine\n');
  b = await TestBerthd.create({ containerd: ctd });
  await symlink(b.runDir, path.join(allowDir, 'run-link'));
  await symlink(b.socket, path.join(allowDir, 'sock-link'));
  // A workload-class unit file gets the same checks as a workload request.
  await b.writeUnit('wlfile', `name = "wlfile"
class = "workload"
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(IDLE)}]
[[mounts]]
type = "bind"
source = "${path.join(allowDir, 'link')}"
destination = "/data"
`);
  await writeFile(b.settingsDefaults, `[settings.selinux]
mode = "auto"
[settings.workloads]
runtime = "containerd"
host-path-allow-list = ${JSON.stringify([allowDir])}
require-memory-limit = true
`);
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
});

after(async () => {
  client?.close();
  wcc?.close();
  hcc?.close();
  await b?.stop();
  await ctd?.stop();
  for (const d of [allowDir, outside, wrapDir]) if (d) await rm(d, { recursive: true, force: true });
});

describe('workload host paths on containerd', { concurrency: false }, () => {
  it('(a) refuses an allowed dir\'s symlink to /etc, naming the field and where it leads', async () => {
    const e = await refusal(client.workloads.run(request('to-etc', { mounts: [{ source: path.join(allowDir, 'link'), destination: '/data', readOnly: true }] })));
    assert.equal(e.codeName, 'INVALID_ARGUMENT');
    assert.match(e.message, /mounts\[0\]\.source: host path .*\/link \(resolves to \/etc\) is outside the allowed host paths/);
    assert.ok(!(await client.workloads.list()).some((w) => w.request.name === 'to-etc'));
    // Through the link into /etc, and with "..": the same.
    const deeper = await refusal(client.workloads.run(request('to-etc2', { mounts: [{ source: path.join(allowDir, 'link', 'ssl'), destination: '/data', readOnly: true }] })));
    assert.match(deeper.message, /mounts\[0\]\.source: .*resolves to \/etc\/ssl/);
    const dotdot = await refusal(client.workloads.run(request('dotdot', { mounts: [{ source: `${allowDir}/plain/../../${path.basename(outside)}`, destination: '/data', readOnly: true }] })));
    assert.match(dotdot.message, /mounts\[0\]\.source: .*outside the allowed host paths/);
  });

  it('(b) refuses symlinks to berth\'s run dir and to the API socket', async () => {
    const run = await refusal(client.workloads.run(request('to-run', { mounts: [{ source: path.join(allowDir, 'run-link'), destination: '/data', readOnly: true }] })));
    assert.match(run.message, /mounts\[0\]\.source: host path .*\/run-link \(resolves to .*\) would expose berth's run directory/);
    const sock = await refusal(client.workloads.run(request('to-sock', { mounts: [{ source: path.join(allowDir, 'sock-link'), destination: '/api.sock', readOnly: true }] })));
    assert.match(sock.message, /mounts\[0\]\.source: host path .*\/sock-link .*(run directory|socket)/);
  });

  it('a workload-class unit file with a symlinked source fails with the reason; berthd keeps running', async () => {
    const u = await waitUnit(client, 'wlfile', (s) => s.state === 'failed', 20_000, 'wlfile to fail');
    assert.match(u.lastError ?? '', /mounts\[0\]\.source: host path .*\/link \(resolves to \/etc\) is outside the allowed host paths/);
    assert.equal(u.pid, 0);
  });

  it('(c) a link the workload plants in its allowed dir is refused at its next restart; the host file never shows', async () => {
    // /data is the allowed dir (rw), /vol a directory inside it. The workload moves /vol's parent away and
    // plants a/vol -> <outside> (a rename of /vol itself is refused in its own mount namespace), then exits.
    const script = `cat /vol/* 2>&1; mv /data/a /data/a.old && mkdir /data/a && ln -s ${outside} /data/a/vol && echo planted; exit 1`;
    await client.workloads.run(request('planter', {
      command: ['/bin/sh', '-c', script], restart: 'always',
      mounts: [{ source: allowDir, destination: '/data', readOnly: false }, { source: path.join(allowDir, 'a', 'vol'), destination: '/vol', readOnly: false }],
    }));
    const w = await waitWorkload(client, 'planter', (x) => x.status.state === 'failed', 30_000, 'the restart after the plant to be refused');
    assert.match(w.status.lastError ?? '', /mounts\[1\]\.source: host path .*\/a\/vol \(resolves to .*bhp-outside-.*\) is outside the allowed host paths/);
    const log = await logText(client, 'planter');
    assert.match(log, /mine/);
    assert.match(log, /planted/);
    assert.ok(!log.includes(SECRET), 'the host file was never visible in the container');
    assert.equal((await wcc.listTasks({ namespace: WORKLOAD_NAMESPACE })).filter((t) => t.id === 'planter').length, 0);
    await client.workloads.remove('planter');
  });

  it('(c) a swap racing the restart (inside runc create) is caught before the process runs', async () => {
    const vol = path.join(allowDir, 'r', 'vol');
    await client.workloads.run(request('racer', { command: ['/bin/sh', '-c', `echo started; cat /vol/* 2>&1; ${IDLE}`], mounts: [{ source: vol, destination: '/vol', readOnly: true }] }));
    const first = await waitWorkload(client, 'racer', (x) => x.status.state === 'running', 30_000, 'racer to run (the post-create check passes on an unchanged source)');
    await client.workloads.stop('racer');
    await writeFile(path.join(wrapDir, 'swap'), `${vol} ${outside}\n`);
    await client.workloads.start('racer');
    const w = await waitWorkload(client, 'racer', (x) => x.status.state === 'failed', 30_000, 'the raced start to be refused');
    await access(path.join(wrapDir, 'swapped')); // the swap did happen inside runc create
    assert.match(w.status.lastError ?? '', /mounts\[0\]\.source: what was mounted at \/vol .* is not .*\/r\/vol as checked/);
    assert.ok(!(await logText(client, 'racer')).includes(SECRET), 'the host file was never visible in the container');
    assert.equal((await wcc.listTasks({ namespace: WORKLOAD_NAMESPACE })).filter((t) => t.id === 'racer').length, 0);
    assert.ok(first.status.pid > 0);
    await client.workloads.remove('racer');
  });

  it('(b) sees through bind mounts placed in the allowed dir: of berth\'s run dir, of a state subdir, of an outside dir', async () => {
    const cases: [string, string, RegExp][] = [
      [b.runDir, 'bind-run', /bind mount of .*, which would expose berth's run directory|inside a bind mount of berth's run directory/],
      [path.join(b.stateDir, 'workloads'), 'bind-state', /bind mount of .*\/workloads, which would expose berth's state directory/],
      [outside, 'bind-out', /bind mount of .*bhp-outside-.*, outside the allowed host paths/],
    ];
    for (const [src, name, why] of cases) {
      const dst = path.join(allowDir, name);
      await mkdir(dst);
      await execFileP('mount', ['--bind', src, dst]);
      try {
        const e = await refusal(client.workloads.run(request(name, { mounts: [{ source: dst, destination: '/data', readOnly: true }] })));
        assert.equal(e.codeName, 'INVALID_ARGUMENT');
        assert.match(e.message, /^mounts\[0\]\.source: /);
        assert.match(e.message, why);
      } finally {
        await execFileP('umount', [dst]);
      }
    }
  });

  it('(d) the deny list holds even when the allow-list contains /, /proc and berth\'s own dirs', async () => {
    await client.settings.set({ 'workloads.host-path-allow-list': JSON.stringify(['/', '/proc', '/sys', '/dev', b.stateDir, b.runDir, b.dir, allowDir]) });
    const attempts: [string, RegExp][] = [
      ['/', /root filesystem/], ['/proc', /\/proc/], ['/proc/1/root', /root filesystem|\/proc/], ['/sys', /\/sys/], ['/dev', /\/dev/],
      [b.stateDir, /state directory/], [b.runDir, /run directory/], [b.dir, /state directory|run directory/], [b.socket, /run directory|socket/],
    ];
    for (const [source, why] of attempts) {
      const e = await refusal(client.workloads.run(request('denied', { mounts: [{ source, destination: '/data', readOnly: true }] })));
      assert.equal(e.codeName, 'INVALID_ARGUMENT', source);
      assert.match(e.message, /mounts\[0\]\.source: /, source);
      assert.match(e.message, why, source);
    }
    // What the allow-list does allow still runs (and its mount passes the post-create check).
    await client.workloads.run(request('fine', { mounts: [{ source: path.join(allowDir, 'plain'), destination: '/data', readOnly: true }] }));
    await waitWorkload(client, 'fine', (x) => x.status.state === 'running', 30_000, 'fine to run');
    await client.workloads.remove('fine');
    assert.equal(await readFile(path.join(outside, 'secret.txt'), 'utf8'), `${SECRET}\n`);
  });
});

// The same checks on the Docker backend (BERTH_WORKLOAD_BACKENDS=containerd skips it while developing).
const withDocker = (process.env.BERTH_WORKLOAD_BACKENDS ?? 'containerd,docker').split(',').includes('docker');
describe('workload host paths on docker', { concurrency: false, skip: !withDocker }, () => {
  let dockerd: TestDockerd;
  let db: TestBerthd;
  let dc: BerthClient;

  before(async () => {
    dockerd = await TestDockerd.start();
    await dockerd.loadBusybox(BUSYBOX_REF);
    await mkdir(path.join(allowDir, 'dk', 'a', 'vol'), { recursive: true });
    await writeFile(path.join(allowDir, 'dk', 'a', 'vol', 'mine.txt'), 'mine\n');
    db = await TestBerthd.create({ containerd: ctd, extraArgs: ['--docker-socket', dockerd.socket] });
    await writeFile(db.settingsDefaults, `[settings.selinux]\nmode = "auto"\n[settings.workloads]\nruntime = "docker"\nhost-path-allow-list = ${JSON.stringify([allowDir])}\n`);
    await db.start(60_000);
    dc = BerthClient.connect({ socketPath: db.socket });
  });

  after(async () => {
    dc?.close();
    await db?.stop();
    await dockerd?.stop();
  });

  it('refuses a symlink to /etc and to berth\'s run dir, naming the field', async () => {
    const etc = await refusal(dc.workloads.run(request('dk-etc', { mounts: [{ source: path.join(allowDir, 'link'), destination: '/data', readOnly: true }] })));
    assert.match(etc.message, /mounts\[0\]\.source: host path .*\/link \(resolves to \/etc\) is outside the allowed host paths/);
    await symlink(db.runDir, path.join(allowDir, 'dk-run-link'));
    const run = await refusal(dc.workloads.run(request('dk-run', { mounts: [{ source: path.join(allowDir, 'dk-run-link'), destination: '/data', readOnly: true }] })));
    assert.match(run.message, /mounts\[0\]\.source: .*berth's run directory/);
  });

  it('refuses the restart after the workload planted a link; the host file never shows', async () => {
    const script = `cat /vol/* 2>&1; mv /data/a /data/a.old && mkdir /data/a && ln -s ${outside} /data/a/vol && echo planted; exit 1`;
    await dc.workloads.run(request('dk-planter', {
      command: ['/bin/sh', '-c', script],
      mounts: [{ source: path.join(allowDir, 'dk'), destination: '/data', readOnly: false }, { source: path.join(allowDir, 'dk', 'a', 'vol'), destination: '/vol', readOnly: false }],
    }));
    const w = await waitWorkload(dc, 'dk-planter', (x) => x.status.state === 'failed', 60_000, 'the restart after the plant to be refused');
    assert.match(w.status.lastError ?? '', /mounts\[1\]\.source: host path .*\/a\/vol \(resolves to .*bhp-outside-.*\) is outside the allowed host paths/);
    const log = await logText(dc, 'dk-planter');
    assert.match(log, /mine/);
    assert.match(log, /planted/);
    assert.ok(!log.includes(SECRET));
    await dc.workloads.remove('dk-planter');
  });
});
