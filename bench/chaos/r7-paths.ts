// R7 security: host-path allow-list escapes (issue 14.1). One berthd whose allow-list is a temp dir; every
// way out of it is tried — symlinks to /etc, to berth's run dir, to the API socket, to the state dir, a
// symlink deep in the path, `..` (as text and through a symlink), a hard link of an outside file, a link the
// workload itself plants before its restart, a workload-class unit file, and the deny-listed roots with the
// allow-list naming them. Each must be refused naming mounts[i].source, with nothing of the host file ever
// visible, while an unrelated workload keeps running with the same pid and berthd never restarts.
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IDLE } from '../../tests/support/units.js';
import { BUSYBOX_REF } from '../../tests/support/images.js';
import { waitFor } from '../../tests/support/wait.js';
import { ApiError, type BerthClient, type WorkloadRequest } from '../../src/cli/client.js';
import type { TestBerthd } from '../../tests/support/berthd.js';
import { client, dropBerthd, newBerthd, WORKLOAD_NS, type ChaosEnv } from './env.js';
import { prng, Tally, type Row } from './lib.js';

const MiB = 1024 * 1024;

function request(name: string, mounts: WorkloadRequest['mounts'], over: Partial<WorkloadRequest> = {}): WorkloadRequest {
  return {
    name, image: BUSYBOX_REF, command: ['/bin/sh', '-c', IDLE], env: {}, memoryBytes: 32 * MiB, mounts, restart: 'always',
    capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [], ...over,
  };
}

async function refusedWith(c: BerthClient, env: ChaosEnv, req: WorkloadRequest, field: RegExp): Promise<string[]> {
  try {
    await c.workloads.run(req, { timeoutMs: 20_000 });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    const out: string[] = [];
    if (e.codeName !== 'INVALID_ARGUMENT') out.push(`${e.codeName}: ${e.message.slice(0, 200)}`);
    if (!field.test(e.message)) out.push(`does not name the field / reason (${field}): ${e.message.slice(0, 200)}`);
    if ((await c.workloads.list()).some((w) => w.request.name === req.name)) out.push('a workload record was created');
    if ((await env.cc.listContainers([], { namespace: WORKLOAD_NS })).some((x) => x.id === req.name)) out.push('a container was created');
    return out;
  }
  await c.workloads.remove(req.name).catch(() => undefined);
  return ['accepted'];
}

async function logText(c: BerthClient, name: string): Promise<string> {
  const lines: string[] = [];
  for await (const l of c.workloads.logs(name)) lines.push(l.line);
  return lines.join('\n');
}

export async function r7Paths(env: ChaosEnv): Promise<Row[]> {
  const t = new Tally('R7 security: allow-list escapes');
  const full = env.mode === 'full';
  const random = prng(env.seed ^ 0x7a7);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'chaos-r7-'));
  const allow = path.join(tmp, 'srv-data');
  const outside = path.join(tmp, 'outside');
  const secret = `R7-SECRET-${env.seed}`;
  let b: TestBerthd | undefined;
  let c: BerthClient | undefined;
  try {
    await mkdir(path.join(allow, 'keep'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'secret.txt'), `${secret}\n`);
    b = await newBerthd(env, {});
    const bd = b;
    await writeFile(bd.settingsDefaults, `[settings.selinux]\nmode = "auto"\n[settings.workloads]\nruntime = "containerd"\nhost-path-allow-list = ${JSON.stringify([allow])}\n`);
    await bd.writeUnit('wlfile', `name = "wlfile"\nclass = "workload"\nimage = "${BUSYBOX_REF}"\ncommand = ["/bin/sh", "-c", ${JSON.stringify(IDLE)}]\n[[mounts]]\ntype = "bind"\nsource = "${path.join(allow, 'unit-link')}"\ndestination = "/data"\n`);
    await symlink('/etc', path.join(allow, 'unit-link'));
    await bd.start(120_000);
    c = client(bd);
    const cl = c;
    const berthdPid = bd.pid;

    // A bystander: allowed, mounted, running all along; it must never be disturbed.
    await cl.workloads.run(request('bystander', [{ source: path.join(allow, 'keep'), destination: '/keep', readOnly: true }]));
    await waitFor(async () => (await cl.workloads.get('bystander')).status.state === 'running', 30_000, 'bystander to run');
    const bystanderPid = (await cl.workloads.get('bystander')).status.pid;

    // Escapes through the API, each under a fresh link name (full mode: several rounds, link depth varied).
    const rounds = full ? 5 : 1;
    for (let r = 0; r < rounds; r++) {
      const dir = path.join(allow, `r${r}`, ...(random() < 0.5 ? ['deeper'] : []));
      await mkdir(dir, { recursive: true });
      const targets: [string, string, RegExp][] = [
        ['symlink to /etc', '/etc', /mounts\[0\]\.source: .*resolves to \/etc\).*outside the allowed host paths/],
        ['symlink to the run dir', bd.runDir, /mounts\[0\]\.source: .*berth's run directory/],
        ['symlink to the API socket', bd.socket, /mounts\[0\]\.source: .*(run directory|socket)/],
        ['symlink to the state dir', bd.stateDir, /mounts\[0\]\.source: .*state directory/],
        ['symlink to an outside dir', outside, /mounts\[0\]\.source: .*outside the allowed host paths/],
        ['relative symlink climbing out', path.relative(dir, outside), /mounts\[0\]\.source: .*outside the allowed host paths/],
      ];
      for (const [what, target, field] of targets) {
        const name = `l${r}-${targets.findIndex((x) => x[0] === what)}`;
        await symlink(target, path.join(dir, name));
        // Either the link itself or a path through it.
        const source = random() < 0.5 || what.includes('socket') ? path.join(dir, name) : path.join(dir, name, '.');
        await t.run(`${what} (round ${r})`, () => refusedWith(cl, env, request(`esc-${r}`, [{ source, destination: '/data', readOnly: true }]), field));
      }
      await t.run(`".." as text (round ${r})`, () => refusedWith(cl, env, request(`esc-${r}`, [{ source: `${allow}/keep/../../outside`, destination: '/data', readOnly: true }]), /mounts\[0\]\.source: .*outside/));
      await mkdir(path.join(outside, `x${r}`), { recursive: true });
      await symlink(path.join(outside, `x${r}`), path.join(dir, `deep${r}`));
      await t.run(`".." through a symlink (round ${r})`, () => refusedWith(cl, env, request(`esc-${r}`, [{ source: `${dir}/deep${r}/..`, destination: '/data', readOnly: true }]), /mounts\[0\]\.source: .*outside/));
      await link(path.join(outside, 'secret.txt'), path.join(dir, `hard${r}`)).catch(() => undefined);
      await t.run(`hard link of an outside file (round ${r})`, () => refusedWith(cl, env, request(`esc-${r}`, [{ source: path.join(dir, `hard${r}`), destination: '/s', readOnly: true }]), /mounts\[0\]\.source: .*hard links/));
    }

    await t.run('workload-class unit file with a symlinked source fails naming the field', async () => {
      const u = await cl.units.get('wlfile');
      return u.state === 'failed' && /mounts\[0\]\.source: .*resolves to \/etc/.test(u.lastError ?? '') ? [] : [`${u.state}: ${u.lastError}`];
    });

    // The workload plants the link itself (its allowed dir mounted rw), then exits; its restart must be refused.
    const plants = full ? 3 : 1;
    for (let p = 0; p < plants; p++) {
      const target = [outside, bd.runDir, '/etc'][p % 3]!;
      const name = `planter${p}`;
      await mkdir(path.join(allow, `p${p}`, 'a', 'vol'), { recursive: true });
      const script = `cat /vol/* 2>/dev/null; mv /data/a /data/a.old && mkdir /data/a && ln -s ${target} /data/a/vol && echo planted; exit 1`;
      await t.run(`planted link to ${target === outside ? 'an outside dir' : target} refused at restart`, async () => {
        await cl.workloads.run(request(name, [
          { source: path.join(allow, `p${p}`), destination: '/data', readOnly: false },
          { source: path.join(allow, `p${p}`, 'a', 'vol'), destination: '/vol', readOnly: false },
        ], { command: ['/bin/sh', '-c', script] }));
        await waitFor(async () => (await cl.workloads.get(name)).status.state === 'failed', 30_000, `${name} to be refused`);
        const st = (await cl.workloads.get(name)).status;
        const out: string[] = [];
        if (!/mounts\[1\]\.source: /.test(st.lastError ?? '')) out.push(`not refused naming mounts[1].source: ${st.lastError}`);
        const log = await logText(cl, name);
        if (!log.includes('planted')) out.push('the workload did not plant its link');
        if (log.includes(secret)) out.push('the host file was visible in the container');
        if ((await env.cc.listTasks({ namespace: WORKLOAD_NS })).some((x) => x.id === name)) out.push('a task is left');
        await cl.workloads.remove(name);
        return out;
      });
    }

    // The deny list, with the allow-list naming every denied root.
    await cl.settings.set({ 'workloads.host-path-allow-list': JSON.stringify(['/', '/proc', '/sys', '/dev', bd.stateDir, bd.runDir, bd.dir, allow]) });
    const denied: [string, RegExp][] = [
      ['/', /root filesystem/], ['/proc', /\/proc/], ['/proc/self/root', /root filesystem|\/proc/], ['/sys', /\/sys/], ['/sys/fs/cgroup', /\/sys/],
      ['/dev', /\/dev/], [bd.stateDir, /state directory/], [bd.runDir, /run directory/], [bd.dir, /state directory|run directory/],
      [bd.socket, /run directory|socket/],
    ];
    for (const [source, why] of denied) {
      await t.run(`deny-listed ${source === bd.dir ? 'ancestor of berth\'s dirs' : source} with it in the allow-list`, () =>
        refusedWith(cl, env, request('denied', [{ source, destination: '/data', readOnly: true }]), new RegExp(`mounts\\[0\\]\\.source: .*(${why.source})`)));
    }

    await t.run('berthd and the bystander were never disturbed', async () => {
      const out: string[] = [];
      if (bd.pid !== berthdPid || bd.child?.exitCode !== null) out.push('berthd exited');
      const by = (await cl.workloads.get('bystander')).status;
      if (by.state !== 'running' || by.pid !== bystanderPid) out.push(`bystander ${by.state} pid ${bystanderPid} -> ${by.pid}`);
      return out;
    });
  } catch (e) {
    t.fail(`setup: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    c?.close();
    if (b) await dropBerthd(env, b);
    await rm(tmp, { recursive: true, force: true });
  }
  return [t.row()];
}
