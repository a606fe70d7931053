// Pure parts of the workload feature: policy checks, CLI argument parsing, the Docker translation of a
// built spec, and the persisted store.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildSpec } from '../../src/ocispec/index.js';
import type { OciSpec } from '../../src/ocispec/types.js';
import { checkWorkload, requestField, type WorkloadPolicy } from '../../src/workloads/policy.js';
import { dockerCreateOptions, securityOpts } from '../../src/runtime/docker-config.js';
import { WorkloadStore } from '../../src/workloads/store.js';
import { parseMount, parseRestart, runRequest } from '../../src/cli/commands/workloads-args.js';
import { specFromWire, specToWire } from '../../src/wire/workloads.js';
import type { WorkloadRequest } from '../../src/workloads/types.js';
import { KNOWN_CAPABILITIES } from '../../src/units/index.js';

const POLICY: WorkloadPolicy = {
  hostPathAllowList: ['/srv/data', '/run/berth-parent'],
  allowedCapabilities: ['CAP_CHOWN', 'CAP_NET_RAW'],
  requireMemoryLimit: true,
  hostCapabilities: KNOWN_CAPABILITIES,
  stateDir: '/var/lib/berth',
  runDir: '/run/berth-parent/run',
  apiSocketPath: '/run/berth-parent/run/api.sock',
};

function req(over: Partial<WorkloadRequest> = {}): WorkloadRequest {
  return {
    name: 'web', image: 'localhost/web:1', command: [], env: {}, memoryBytes: 64 << 20, mounts: [], restart: 'always', capAdd: [],
    privileged: false, hostNetwork: false, hostPid: false, devices: [], ...over,
  };
}

function fields(r: ReturnType<typeof checkWorkload>): string[] {
  return r.ok ? [] : r.violations.map((v) => v.field);
}

describe('workload policy', () => {
  it('turns an acceptable request into a validated workload unit', () => {
    const r = checkWorkload(req({ cpus: 0.5, pids: 10, capAdd: ['net_raw'], mounts: [{ source: '/srv/data/a', destination: '/data', readOnly: true }] }), POLICY);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.unit.class, 'workload');
    assert.deepEqual(r.unit.namespaces, { hostNetwork: false, hostPid: false });
    assert.deepEqual(r.unit.capabilities.add, ['CAP_NET_RAW']);
    assert.deepEqual(r.unit.resources, { memoryBytes: 64 << 20, cpus: 0.5, pids: 10 });
    assert.equal(r.unit.persistentStorage, false);
  });

  const refused: [string, Partial<WorkloadRequest>, string][] = [
    ['privileged', { privileged: true }, 'privileged'],
    ['host network', { hostNetwork: true }, 'host_network'],
    ['host pid', { hostPid: true }, 'host_pid'],
    ['devices', { devices: ['/dev/fuse'] }, 'devices'],
    ['capability outside policy', { capAdd: ['CAP_KILL'] }, 'cap_add[0]'],
    ['capability no workload may add', { capAdd: ['SYS_ADMIN'] }, 'cap_add[0]'],
    ['host path outside allow-list', { mounts: [{ source: '/etc', destination: '/x', readOnly: true }] }, 'mounts[0].source'],
    ['run dir inside allow-list', { mounts: [{ source: '/run/berth-parent', destination: '/x', readOnly: true }] }, 'mounts[0].source'],
    ['bad name', { name: 'Bad Name' }, 'name'],
  ];
  for (const [what, over, field] of refused) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.ok(fields(checkWorkload(req(over), POLICY)).includes(field), JSON.stringify(checkWorkload(req(over), POLICY)));
    });
  }

  it('refuses a missing memory limit when the policy requires one, and not otherwise', () => {
    const r = req();
    delete r.memoryBytes;
    assert.deepEqual(fields(checkWorkload(r, POLICY)), ['memory']);
    assert.ok(checkWorkload(r, { ...POLICY, requireMemoryLimit: false }).ok);
  });

  it('maps unit paths to request fields', () => {
    assert.equal(requestField('resources.memory'), 'memory');
    assert.equal(requestField('capabilities.add[2]'), 'cap_add[2]');
    assert.equal(requestField('namespaces.host-pid'), 'host_pid');
    assert.equal(requestField('mounts[1].destination'), 'mounts[1].destination');
  });
});

describe('berthctl workloads run arguments', () => {
  it('parses flags into a request', () => {
    const r = runRequest('w', ['/bin/sh', '-c', 'x'], { image: 'img', env: ['A=1', 'B=x=y'], memory: '64Mi', cpus: '0.5', pids: '20', mount: ['/a:/b', '/c:/d:rw'], restart: 'no', capAdd: ['NET_RAW'], network: 'host' });
    assert.deepEqual(r.env, { A: '1', B: 'x=y' });
    assert.equal(r.memoryBytes, 64 << 20);
    assert.equal(r.cpus, 0.5);
    assert.equal(r.pids, 20);
    assert.deepEqual(r.mounts, [{ source: '/a', destination: '/b', readOnly: true }, { source: '/c', destination: '/d', readOnly: false }]);
    assert.equal(r.restart, 'never');
    assert.equal(r.hostNetwork, true);
    assert.deepEqual(r.command, ['/bin/sh', '-c', 'x']);
  });
  it('rejects malformed values', () => {
    assert.throws(() => parseMount('/a'), /SRC:DST/);
    assert.throws(() => parseMount('/a:/b:rx'), /SRC:DST/);
    assert.throws(() => parseRestart('sometimes'), /expected one of/);
    assert.throws(() => runRequest('w', [], { image: 'i', memory: 'lots' }), /--memory lots/);
    assert.throws(() => runRequest('w', [], { image: 'i', env: ['=x'] }), /KEY=VALUE/);
    assert.throws(() => runRequest('w', [], { image: 'i', pids: '1.5' }), /integer/);
  });
  it('round-trips through the wire shape', () => {
    const r = req({ cpus: 1.5, mounts: [{ source: '/srv/data', destination: '/d', readOnly: false }], env: { A: 'b' } });
    assert.deepEqual(specFromWire(specToWire(r)), r);
    const noMem = req();
    delete noMem.memoryBytes;
    assert.deepEqual(specFromWire({ ...specToWire(noMem), memory_bytes: null }), noMem);
  });
});

describe('docker translation', () => {
  const checked = checkWorkload(req({ cpus: 0.25, pids: 30, capAdd: ['NET_RAW'], command: ['/bin/app', '--x'], mounts: [{ source: '/srv/data', destination: '/data', readOnly: true }] }), POLICY);
  assert.ok(checked.ok);
  const built = buildSpec(checked.unit, {
    containerId: 'web', namespace: 'docker', stateDir: '/var/lib/berth', apiSocketPath: '/run/berth/api.sock', selinux: { mode: 'auto', active: false },
    mcs: [3, 7], hostPathAllowList: ['/srv/data'], hostCapabilities: ['CAP_CHOWN', 'CAP_NET_RAW', 'CAP_KILL'], imageConfig: { env: [], entrypoint: [], cmd: ['/bin/sh'], workingDir: '', user: '' },
  });
  assert.ok(built.ok);
  const spec = built.spec;

  it('asks for the same confinement in Docker terms', () => {
    const o = dockerCreateOptions('web', 'img', spec, { 'berth.unit': 'web' });
    const hc = o.HostConfig!;
    assert.equal(o.name, 'web');
    assert.deepEqual([...(o.Entrypoint as string[]), ...o.Cmd!], ['/bin/app', '--x']);
    assert.equal(o.User, '0:0');
    assert.equal(hc.Privileged, false);
    assert.equal(hc.ReadonlyRootfs, true);
    assert.deepEqual(hc.CapDrop, ['ALL']);
    assert.deepEqual(hc.CapAdd, ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW']);
    assert.deepEqual(hc.SecurityOpt, ['no-new-privileges']);
    assert.deepEqual(hc.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
    assert.equal(hc.NetworkMode, 'none');
    assert.equal(hc.PidMode, '');
    assert.equal(hc.Memory, 64 << 20);
    assert.equal(hc.MemorySwap, 64 << 20);
    assert.equal(hc.NanoCpus, 0.25e9);
    assert.equal(hc.PidsLimit, 30);
    assert.deepEqual(hc.Binds, ['/srv/data:/data:ro']);
    assert.deepEqual(hc.Devices, []);
  });

  it('passes SELinux labels only when they are applied', () => {
    assert.deepEqual(securityOpts(spec, { applied: false, processLabel: 'system_u:system_r:container_t:s0:c3,c7' }), ['no-new-privileges']);
    assert.deepEqual(securityOpts(spec, { applied: true, processLabel: 'system_u:system_r:container_t:s0:c3,c7' }), ['no-new-privileges', 'label=type:container_t', 'label=level:s0:c3,c7']);
  });

  it('shows the container its cgroups read-only (a cgroup mount: Docker mounts its own, none is passed on)', () => {
    const m = spec.mounts.find((x) => x.destination === '/sys/fs/cgroup');
    assert.equal(m?.type, 'cgroup');
    assert.ok(m?.options.includes('ro'));
    const o = dockerCreateOptions('web', 'img', spec, { 'berth.unit': 'web' });
    assert.ok(!o.HostConfig!.Binds!.some((b) => b.includes('/sys/fs/cgroup')));
    assert.ok(!Object.keys(o.HostConfig!.Tmpfs ?? {}).includes('/sys/fs/cgroup'));
  });
});

describe('workload store', () => {
  it('persists atomically and reloads', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bwl-store-'));
    try {
      const s = await WorkloadStore.open(dir);
      await s.update((m) => void m.set('a', { request: req({ name: 'a' }), mcs: [1, 2], desired: 'running', createdAt: 'now' }));
      await s.update((m) => void m.set('b', { request: req({ name: 'b' }), mcs: [3, 4], desired: 'stopped', createdAt: 'now' }));
      const again = await WorkloadStore.open(dir);
      assert.deepEqual(again.all().map((r) => [r.request.name, r.desired, r.mcs]), [['a', 'running', [1, 2]], ['b', 'stopped', [3, 4]]]);
      assert.match(await readFile(path.join(dir, 'workloads.json'), 'utf8'), /"version": 1/);
      await assert.rejects(s.update(() => {
        throw new Error('no');
      }));
      assert.equal(s.all().length, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
