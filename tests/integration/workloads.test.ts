// Workloads end to end, on both backends: berthd (child process) against a private containerd, and with
// workloads.runtime = "docker" against a private Debian dockerd. Same assertions on both.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { TestDockerd } from '../support/dockerd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { IDLE } from '../support/units.js';
import { withDeadline } from '../support/wait.js';
import { importArchive } from '../../src/images/import.js';
import { BerthClient, ApiError, type WorkloadInfo, type WorkloadRequest } from '../../src/cli/client.js';
import { WORKLOAD_NAMESPACE } from '../../src/workloads/wiring.js';

const execFileP = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');
const MiB = 1024 * 1024;
// Workload base set (containerd's default minus NET_RAW and MKNOD) ∩ this list, plus NET_RAW added.
const ALLOWED = ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_NET_RAW'];
const CAP_BITS: Record<string, number> = { CAP_CHOWN: 0, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13 };
const EXPECTED_CAPEFF = ALLOWED.reduce((n, c) => n | (1n << BigInt(CAP_BITS[c]!)), 0n);

function request(name: string, over: Partial<WorkloadRequest> = {}): WorkloadRequest {
  return {
    name, image: BUSYBOX_REF, command: ['/bin/sh', '-c', IDLE], env: {}, memoryBytes: 64 * MiB, mounts: [], restart: 'always',
    capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [], ...over,
  };
}

/** Poll a workload until `pred` holds (workloads have no event stream of their own yet). */
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

interface Backend {
  name: 'containerd' | 'docker';
  /** Container names the engine has for workloads. */
  containers(): Promise<{ name: string; labels: Record<string, string> }[]>;
  extraArgs: string[];
  stop(): Promise<void>;
}

async function containerdBackend(ctd: TestContainerd): Promise<Backend> {
  const c = ctd.client(WORKLOAD_NAMESPACE);
  await importArchive(c, await busyboxArchive(), { namespace: WORKLOAD_NAMESPACE });
  return {
    name: 'containerd',
    containers: async () => (await c.listContainers([], { namespace: WORKLOAD_NAMESPACE })).map((x) => ({ name: x.id, labels: x.labels })),
    extraArgs: [],
    stop: async () => c.close(),
  };
}

async function dockerBackend(): Promise<Backend & { dockerd: TestDockerd }> {
  const dockerd = await TestDockerd.start();
  await dockerd.loadBusybox(BUSYBOX_REF);
  const docker = dockerd.client();
  return {
    name: 'docker',
    dockerd,
    containers: async () => (await docker.listContainers({ all: true })).map((x) => ({ name: (x.Names[0] ?? '').replace(/^\//, ''), labels: x.Labels })),
    extraArgs: ['--docker-socket', dockerd.socket],
    stop: () => dockerd.stop(),
  };
}

// BERTH_WORKLOAD_BACKENDS=docker runs one backend only (while developing).
const BACKENDS = (process.env.BERTH_WORKLOAD_BACKENDS ?? 'containerd,docker').split(',');

for (const which of (['containerd', 'docker'] as const).filter((b) => BACKENDS.includes(b))) {
  describe(`workloads on ${which}`, { concurrency: false }, () => {
    let ctd: TestContainerd;
    let backend: Backend & { dockerd?: TestDockerd };
    let b: TestBerthd;
    let client: BerthClient;
    let allowDir: string;

    before(async () => {
      ctd = await TestContainerd.start();
      backend = which === 'docker' ? await dockerBackend() : await containerdBackend(ctd);
      allowDir = await mkdtemp(path.join(os.tmpdir(), 'bwl-allow-'));
      await writeFile(path.join(allowDir, 'hello'), 'hello from the host\n');
      b = await TestBerthd.create({ containerd: ctd, extraArgs: backend.extraArgs });
      // b.dir holds the run dir: allowing it lets the run-dir rule (not the allow-list) refuse the bind.
      await writeFile(b.settingsDefaults, `[settings.selinux]
mode = "auto"
[settings.workloads]
runtime = "${which}"
host-path-allow-list = ${JSON.stringify([allowDir, b.dir])}
allowed-capabilities = ${JSON.stringify(ALLOWED)}
require-memory-limit = true
`);
      await b.start();
      client = BerthClient.connect({ socketPath: b.socket });
    });

    after(async () => {
      client?.close();
      await b?.stop();
      await backend?.stop();
      await ctd?.stop();
      if (allowDir) await rm(allowDir, { recursive: true, force: true });
    });

    it('runs a workload confined: read-only root, its memory limit, the allowed capabilities, no API socket', async () => {
      const script = [
        'echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)',
        'echo $(grep CapEff /proc/self/status)',
        'if touch /written 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi',
        'if test -e /run/berth/api.sock; then echo api=yes; else echo api=no; fi',
        'echo data=$(cat /data/hello)',
        'if touch /data/x 2>/dev/null; then echo data=rw; else echo data=ro; fi',
        IDLE,
      ].join('; ');
      const w = await client.workloads.run(request('probe', {
        command: ['/bin/sh', '-c', script], cpus: 0.5, pids: 64, capAdd: ['NET_RAW'], mounts: [{ source: allowDir, destination: '/data', readOnly: true }],
      }));
      assert.equal(w.runtime, which);
      assert.match(w.mcs, /^s0:c\d+,c\d+$/);
      await waitWorkload(client, 'probe', (x) => x.status.state === 'running', 60_000, 'running');
      let text = '';
      await withDeadline((async () => {
        while (!/data=r[ow]/.test(text)) {
          text = await logText(client, 'probe');
          await new Promise((r) => setTimeout(r, 100));
        }
      })(), 30_000, 'probe output');
      assert.match(text, new RegExp(`mem=${64 * MiB}\\b`));
      const capEff = /CapEff:\s*([0-9a-f]+)/.exec(text)?.[1];
      assert.equal(BigInt(`0x${capEff}`), EXPECTED_CAPEFF, `CapEff ${capEff}`);
      assert.match(text, /rootfs=ro/);
      assert.match(text, /api=no/);
      assert.match(text, /data=hello from the host/);
      assert.match(text, /data=ro/);
      // SELinux is off here: the labels are recorded on the container, with this workload's categories.
      const status = (await client.workloads.get('probe')).status;
      assert.equal(status.selinux?.processLabel, `system_u:system_r:container_t:${w.mcs}`);
      assert.equal(status.selinux?.applied, false);
      const c = (await backend.containers()).find((x) => x.name === 'probe');
      assert.equal(c?.labels['berth.selinux.process-label'], `system_u:system_r:container_t:${w.mcs}`);
      assert.equal(c?.labels['berth.class'], 'workload');
    });

    if (which === 'docker') {
      it('asks Docker for the same policy: no privileges, no restart policy of its own, no network', async () => {
        const info = await backend.dockerd!.client().getContainer('probe').inspect();
        const hc = info.HostConfig;
        assert.equal(hc.Privileged, false);
        assert.equal(hc.ReadonlyRootfs, true);
        assert.deepEqual(hc.CapDrop, ['ALL']);
        assert.deepEqual([...(hc.CapAdd ?? [])].sort(), [...ALLOWED].sort());
        assert.ok(hc.SecurityOpt?.includes('no-new-privileges'));
        assert.equal(hc.RestartPolicy?.Name, 'no');
        assert.equal(hc.NetworkMode, 'none');
        assert.equal(hc.Memory, 64 * MiB);
        assert.equal(hc.NanoCpus, 0.5e9);
        assert.equal(hc.PidsLimit, 64);
        assert.equal(hc.PidMode, '');
      });
    }

    it('restarts a crashing workload with backoff', async () => {
      await client.workloads.run(request('crasher', { command: ['/bin/sh', '-c', 'echo crashing; exit 3'], restart: 'on-failure' }));
      const w = await waitWorkload(client, 'crasher', (x) => x.status.restarts >= 2, 60_000, 'two restarts');
      const backoffs = w.status.events.filter((e) => e.state === 'backing-off');
      assert.ok(backoffs.length >= 2, JSON.stringify(w.status.events));
      assert.match(backoffs[0]!.message, /exited with status 3; restarting in \d/);
      // Growing delays: the second wait is announced longer than the first (1 s, then 2 s, ±20 %).
      const delays = backoffs.map((e) => Number(/restarting in ([\d.]+) s/.exec(e.message)?.[1]));
      assert.ok(delays[1]! > delays[0]!, `delays ${delays.join(', ')}`);
      // Stop it while it waits (the next try is seconds away), not while a run is ending.
      await waitWorkload(client, 'crasher', (x) => x.status.state === 'backing-off', 30_000, 'backing off');
      await client.workloads.stop('crasher');
    });

    it('keeps workloads across a berthd SIGKILL: running ones adopted without a restart, stopped ones stay stopped', async () => {
      const before = await client.workloads.get('probe');
      assert.equal(before.status.state, 'running');
      const crasher = await client.workloads.get('crasher');
      assert.equal(crasher.status.desired, 'stopped');
      client.close();
      await b.kill();
      await b.start();
      client = BerthClient.connect({ socketPath: b.socket });
      const after = await waitWorkload(client, 'probe', (x) => x.status.state === 'running', 30_000, 'running again');
      assert.equal(after.status.pid, before.status.pid, 'same process: adopted, not restarted');
      assert.equal(after.status.restarts, 0);
      assert.ok(after.status.events.some((e) => /adopted/.test(e.message)), JSON.stringify(after.status.events));
      assert.equal(after.mcs, before.mcs, 'MCS pair persisted');
      const c = await client.workloads.get('crasher');
      assert.equal(c.status.desired, 'stopped');
      assert.notEqual(c.status.state, 'running');
      // Adopted logs keep flowing, and exits are still seen: kill it and it comes back (restart = always).
      const docker = backend.dockerd?.client();
      if (docker) await docker.getContainer('probe').kill({ signal: 'SIGKILL' });
      else process.kill(after.status.pid, 'SIGKILL');
      const again = await waitWorkload(client, 'probe', (x) => x.status.restarts >= 1 && x.status.state === 'running', 30_000, 'restarted after kill');
      assert.notEqual(again.status.pid, after.status.pid);
    });

    it('gives every workload its own MCS categories', async () => {
      for (let i = 0; i < 4; i++) await client.workloads.run(request(`mcs${i}`));
      const list = await client.workloads.list();
      const levels = list.map((w) => w.mcs);
      assert.equal(new Set(levels).size, levels.length, levels.join(' '));
      const cats = list.map((w) => w.mcs.slice(3).split(','));
      for (const [a, b] of cats) assert.notEqual(a, b);
      for (let i = 0; i < 4; i++) await client.workloads.remove(`mcs${i}`);
    });

    const forbidden: [string, Partial<WorkloadRequest>, RegExp][] = [
      ['privileged', { privileged: true }, /^privileged: workloads may never be superpowered/],
      ['host path outside the allow-list', { mounts: [{ source: '/etc', destination: '/host-etc', readOnly: true }] }, /mounts\[0\]\.source: host path \/etc is outside the allowed host paths/],
      ['capability not allowed', { capAdd: ['SYS_ADMIN'] }, /cap_add\[0\]: CAP_SYS_ADMIN is not in workloads\.allowed-capabilities/],
      ['no memory limit', { memoryBytes: undefined }, /^memory: a memory limit is required/],
      ['host network', { hostNetwork: true }, /host_network: workloads may not share the host network namespace/],
      ['host PID namespace', { hostPid: true }, /host_pid: workloads may not share the host PID namespace/],
      ['a device', { devices: ['/dev/kvm'] }, /devices: workloads may not use host devices/],
    ];
    for (const [what, over, reason] of forbidden) {
      it(`refuses ${what} with the reason, creating nothing`, async () => {
        const name = `bad-${what.replace(/[^a-z]+/g, '-').replace(/-$/, '')}`;
        const req = request(name, over);
        if ('memoryBytes' in over && over.memoryBytes === undefined) delete req.memoryBytes;
        await assert.rejects(client.workloads.run(req), (e: unknown) => {
          assert.ok(e instanceof ApiError);
          assert.equal(e.codeName, 'INVALID_ARGUMENT');
          assert.match(e.message, reason);
          return true;
        });
        assert.ok(!(await client.workloads.list()).some((w) => w.request.name === name));
        assert.ok(!(await backend.containers()).some((c) => c.name === name));
        assert.ok(!(await readFile(path.join(b.stateDir, 'workloads.json'), 'utf8')).includes(name));
      });
    }

    it("refuses a bind of berth's run dir (the API socket's directory), even inside the allow-list", async () => {
      await assert.rejects(client.workloads.run(request('bad-rundir', { mounts: [{ source: b.runDir, destination: '/berth', readOnly: true }] })), (e: unknown) => {
        assert.ok(e instanceof ApiError);
        assert.equal(e.codeName, 'INVALID_ARGUMENT');
        assert.match(e.message, /mounts\[0\]\.source: host path .* would expose berth's run directory/);
        return true;
      });
      assert.ok(!(await backend.containers()).some((c) => c.name === 'bad-rundir'));
    });

    if (which === 'containerd') {
      it('berthctl workloads: run, ls, and a refusal naming the field (exit 1)', async () => {
        const cli = (...args: string[]) => execFileP(process.execPath, [CLI, '--socket', b.socket, ...args]);
        const refused = await cli('workloads', 'run', 'clibad', '--image', BUSYBOX_REF, '--memory', '16Mi', '--privileged').then(() => undefined, (e: { code: number; stderr: string }) => e);
        assert.equal(refused?.code, 1);
        assert.match(refused?.stderr ?? '', /privileged: workloads may never be superpowered/);
        const ran = await cli('workloads', 'run', 'cli1', '--image', BUSYBOX_REF, '--memory', '16Mi', '--env', 'A=1', '--restart', 'no', '--', '/bin/sh', '-c', 'echo A=$A');
        assert.match(ran.stdout, /^cli1: /);
        await waitWorkload(client, 'cli1', (x) => x.status.state === 'exited', 30_000, 'exited');
        const ls = await cli('workloads', 'ls');
        assert.match(ls.stdout, /cli1\s+exited/);
        const logs = await cli('workloads', 'logs', 'cli1');
        assert.match(logs.stdout, /A=1/);
        await cli('workloads', 'rm', 'cli1');
        assert.ok(!(await client.workloads.list()).some((w) => w.request.name === 'cli1'));
      });
    }

    it('removes a workload: container gone, forgotten', async () => {
      await client.workloads.remove('probe');
      await client.workloads.remove('crasher');
      assert.deepEqual((await client.workloads.list()).map((w) => w.request.name), []);
      assert.deepEqual((await backend.containers()).map((c) => c.name), []);
    });
  });
}
