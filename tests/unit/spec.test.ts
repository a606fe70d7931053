// OCI spec builder: one test per rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUnit, formatUnitError, type UnitSpec } from '../../src/units/index.js';
import {
  CONTAINERD_DEFAULT_CAPS, KNOWN_CAPABILITIES,
} from '../../src/units/capabilities.js';
import {
  allocateMcs, buildSpec, cgroupParent, defaultSpec, resolveInputs, specOptsFor, withCgroupMount, withEnv,
  type OciSpec, type SpecContext,
} from '../../src/ocispec/index.js';

function unit(text: string): UnitSpec {
  const r = parseUnit(text, 'demo.toml');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatUnitError).join('\n'));
  return r.unit;
}

const HOST = 'name = "demo"\nclass = "host"\nimage = "localhost/berth/demo:1"\n';
const SUPER = `${HOST}superpowered = true\n`;
const BOOTSTRAP = 'name = "demo"\nclass = "bootstrap"\nimage = "localhost/berth/setup:1"\n[bootstrap]\nmode = "once"\n';
const WORKLOAD = 'name = "demo"\nclass = "workload"\nimage = "registry.example.com/app:1"\n';

function ctx(over: Partial<SpecContext> = {}): SpecContext {
  return {
    containerId: 'demo',
    namespace: 'berth',
    stateDir: '/var/lib/berth',
    apiSocketPath: '/run/berth/api.sock',
    selinux: { mode: 'auto', active: true },
    mcs: [12, 700],
    hostPathAllowList: ['/srv/volumes'],
    imageConfig: { env: ['PATH=/bin', 'LANG=C'], entrypoint: ['/entry'], cmd: ['--serve'], workingDir: '/srv', user: '' },
    ...over,
  };
}

function build(text: string, over: Partial<SpecContext> = {}): { spec: OciSpec; hostDirs: string[]; selinux: { processLabel: string; mountLabel: string; applied: boolean; reason: string } } {
  const r = buildSpec(unit(text), ctx(over));
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatUnitError).join('\n'));
  return r;
}

function buildErrors(text: string, over: Partial<SpecContext> = {}): Array<{ path: string; message: string }> {
  const r = buildSpec(unit(text), ctx(over));
  assert.equal(r.ok, false);
  return r.ok ? [] : r.errors;
}

const nsTypes = (s: OciSpec) => s.linux.namespaces.map((n) => n.type).sort();
const mountAt = (s: OciSpec, dest: string) => s.mounts.find((m) => m.destination === dest);
const ALL_CLASSES = [HOST, SUPER, BOOTSTRAP, WORKLOAD];

test('default spec is containerd\'s with a read-only root', () => {
  const s = defaultSpec();
  assert.equal(s.root.readonly, true);
  assert.equal(s.root.path, 'rootfs');
  assert.deepEqual(s.process.capabilities.bounding, [...CONTAINERD_DEFAULT_CAPS]);
  assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
  assert.deepEqual(s.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'network']);
  assert.deepEqual(s.linux.resources.devices[0], { allow: false, access: 'rwm' });
});

test('every class gets a read-only root filesystem', () => {
  for (const text of ALL_CLASSES) assert.equal(build(text).spec.root.readonly, true);
});

test('noNewPrivileges is false only for superpowered units', () => {
  assert.equal(build(HOST).spec.process.noNewPrivileges, true);
  assert.equal(build(BOOTSTRAP).spec.process.noNewPrivileges, true);
  assert.equal(build(WORKLOAD).spec.process.noNewPrivileges, true);
  assert.equal(build(SUPER).spec.process.noNewPrivileges, false);
});

test('labels per class', () => {
  assert.deepEqual(build(HOST).selinux, {
    processLabel: 'system_u:system_r:control_t:s0-s0:c0.c1023', mountLabel: 'system_u:object_r:secret_t:s0',
    applied: true, reason: 'SELinux is active (mode auto)',
  });
  assert.equal(build(SUPER).selinux.processLabel, 'system_u:system_r:super_t:s0-s0:c0.c1023');
  assert.equal(build(SUPER).selinux.mountLabel, 'system_u:object_r:secret_t:s0');
  assert.equal(build(BOOTSTRAP).selinux.processLabel, 'system_u:system_r:control_t:s0-s0:c0.c1023');
  assert.equal(build(BOOTSTRAP).selinux.mountLabel, 'system_u:object_r:secret_t:s0');
  const s = build(HOST).spec;
  assert.equal(s.process.selinuxLabel, 'system_u:system_r:control_t:s0-s0:c0.c1023');
  assert.equal(s.linux.mountLabel, 'system_u:object_r:secret_t:s0');
});

test('workload MCS label and mount label, categories ordered low to high', () => {
  const r = build(WORKLOAD, { mcs: [700, 12] });
  assert.equal(r.selinux.processLabel, 'system_u:system_r:container_t:s0:c12,c700');
  assert.equal(r.selinux.mountLabel, 'system_u:object_r:container_file_t:s0:c12,c700');
  assert.equal(r.spec.process.selinuxLabel, r.selinux.processLabel);
  assert.equal(r.spec.linux.mountLabel, r.selinux.mountLabel);
});

test('workloads without MCS or with equal categories are rejected', () => {
  assert.ok(buildErrors(WORKLOAD, { mcs: undefined }).some((e) => e.path === 'mcs'));
  assert.ok(buildErrors(WORKLOAD, { mcs: [5, 5] }).some((e) => e.path === 'mcs' && /differ/.test(e.message)));
  assert.ok(buildErrors(WORKLOAD, { mcs: [5, 1024] }).some((e) => e.path === 'mcs'));
});

test('SELinux auto + inactive: labels returned but not applied', () => {
  const r = build(HOST, { selinux: { mode: 'auto', active: false } });
  assert.equal(r.selinux.applied, false);
  assert.match(r.selinux.reason, /not active/);
  assert.equal(r.selinux.processLabel, 'system_u:system_r:control_t:s0-s0:c0.c1023');
  assert.equal(r.spec.process.selinuxLabel, undefined);
  assert.equal(r.spec.linux.mountLabel, undefined);
});

test('SELinux off: never applied, even when active', () => {
  const r = build(WORKLOAD, { selinux: { mode: 'off', active: true } });
  assert.equal(r.selinux.applied, false);
  assert.match(r.selinux.reason, /off/);
  assert.equal(r.spec.process.selinuxLabel, undefined);
  assert.equal(r.spec.linux.mountLabel, undefined);
  assert.equal(r.selinux.processLabel, 'system_u:system_r:container_t:s0:c12,c700');
});

test('SELinux enforce + active: applied', () => {
  const r = build(HOST, { selinux: { mode: 'enforce', active: true } });
  assert.equal(r.selinux.applied, true);
  assert.ok(r.spec.process.selinuxLabel);
});

test('SELinux enforce + inactive: error', () => {
  const errors = buildErrors(HOST, { selinux: { mode: 'enforce', active: false } });
  assert.deepEqual(errors, [{ path: 'selinux.mode', message: 'enforce requires SELinux to be active on the host' }]);
});

test('host: host network with host hosts/resolv.conf read-only, own PID namespace', () => {
  const s = build(HOST).spec;
  assert.deepEqual(nsTypes(s), ['ipc', 'mount', 'pid', 'uts']);
  for (const f of ['/etc/hosts', '/etc/resolv.conf']) {
    const m = mountAt(s, f);
    assert.equal(m?.source, f);
    assert.ok(m?.options.includes('ro'));
  }
});

test('superpowered: host network and host PID namespace', () => {
  assert.deepEqual(nsTypes(build(SUPER).spec), ['ipc', 'mount', 'uts']);
});

test('bootstrap: host network and host PID namespace', () => {
  assert.deepEqual(nsTypes(build(BOOTSTRAP).spec), ['ipc', 'mount', 'uts']);
});

test('workload: own network and PID namespaces, no host network files', () => {
  const s = build(WORKLOAD).spec;
  assert.deepEqual(nsTypes(s), ['ipc', 'mount', 'network', 'pid', 'uts']);
  assert.equal(mountAt(s, '/etc/hosts'), undefined);
  assert.equal(mountAt(s, '/etc/resolv.conf'), undefined);
});

test('host capabilities are exactly containerd\'s defaults', () => {
  const caps = build(HOST).spec.process.capabilities;
  assert.deepEqual([...caps.bounding].sort(), [...CONTAINERD_DEFAULT_CAPS].sort());
  assert.deepEqual(caps.effective, caps.bounding);
  assert.deepEqual(caps.permitted, caps.bounding);
});

test('bootstrap capabilities are containerd\'s defaults plus the five bootstrap ones', () => {
  const expected = [...new Set([...CONTAINERD_DEFAULT_CAPS, 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_CHROOT', 'CAP_SYS_MODULE', 'CAP_AUDIT_CONTROL'])].sort();
  assert.deepEqual([...build(BOOTSTRAP).spec.process.capabilities.bounding].sort(), expected);
});

test('workload capabilities are containerd\'s defaults minus NET_RAW and MKNOD, plus allowed adds', () => {
  const base = CONTAINERD_DEFAULT_CAPS.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD').sort();
  assert.deepEqual([...build(WORKLOAD).spec.process.capabilities.bounding].sort(), base);
  const withRaw = build(`${WORKLOAD}[capabilities]\nadd = ["NET_RAW"]\ndrop = ["CHOWN"]\n`).spec.process.capabilities.bounding;
  assert.deepEqual([...withRaw].sort(), [...base.filter((c) => c !== 'CAP_CHOWN'), 'CAP_NET_RAW'].sort());
});

test('drop ALL then add leaves only the added capabilities', () => {
  const caps = build(`${HOST}[capabilities]\ndrop = ["ALL"]\nadd = ["NET_BIND_SERVICE"]\n`).spec.process.capabilities.bounding;
  assert.deepEqual(caps, ['CAP_NET_BIND_SERVICE']);
});

test('superpowered capabilities are exactly what the host grants', () => {
  assert.deepEqual(build(SUPER).spec.process.capabilities.bounding, [...KNOWN_CAPABILITIES]);
  const limited = build(SUPER, { hostCapabilities: ['CAP_SYS_ADMIN', 'CAP_CHOWN'] }).spec.process.capabilities.bounding;
  assert.deepEqual(limited, ['CAP_CHOWN', 'CAP_SYS_ADMIN']);
});

test('a host unit may not add a capability the host does not grant', () => {
  const errors = buildErrors(`${HOST}[capabilities]\nadd = ["SYS_TIME"]\n`, { hostCapabilities: [...CONTAINERD_DEFAULT_CAPS] });
  assert.ok(errors.some((e) => e.path === 'capabilities.add[0]'));
});

test('superpowered: privileged with no masked or read-only paths, no seccomp, all devices, rw sysfs, rshared', () => {
  const s = build(SUPER).spec;
  assert.deepEqual(s.linux.maskedPaths, []);
  assert.deepEqual(s.linux.readonlyPaths, []);
  assert.equal(s.linux.seccomp, undefined);
  assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  assert.ok(mountAt(s, '/sys')?.options.includes('rw'));
  assert.ok(!mountAt(s, '/sys')?.options.includes('ro'));
  assert.equal(s.linux.rootfsPropagation, 'rshared');
});

test('superpowered: host root at /.berth/rootfs (rbind, rshared, ro) and /lib/modules read-only', () => {
  const s = build(SUPER).spec;
  assert.deepEqual(mountAt(s, '/.berth/rootfs'), { destination: '/.berth/rootfs', type: 'bind', source: '/', options: ['rbind', 'rshared', 'ro'] });
  assert.equal(mountAt(s, '/lib/modules')?.source, '/lib/modules');
  assert.ok(mountAt(s, '/lib/modules')?.options.includes('ro'));
  assert.equal(mountAt(build(HOST).spec, '/.berth/rootfs'), undefined);
});

test('non-superpowered classes keep masked paths and get the default seccomp profile', () => {
  for (const text of [HOST, BOOTSTRAP, WORKLOAD]) {
    const s = build(text).spec;
    assert.ok((s.linux.maskedPaths ?? []).includes('/proc/kcore'));
    assert.ok((s.linux.readonlyPaths ?? []).includes('/proc/sys'));
    assert.equal(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(s.linux.seccomp?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.equal(s.linux.rootfsPropagation, undefined);
  }
});

test('seccomp follows capabilities: host cannot mount, bootstrap can and may swapon', () => {
  const allowed = (s: OciSpec) => new Set((s.linux.seccomp?.syscalls ?? []).filter((c) => c.action === 'SCMP_ACT_ALLOW' && c.args === undefined).flatMap((c) => c.names));
  const host = allowed(build(HOST).spec);
  assert.ok(host.has('read') && host.has('execve'));
  assert.ok(!host.has('mount') && !host.has('init_module') && !host.has('swapon'));
  const boot = allowed(build(BOOTSTRAP).spec);
  assert.ok(boot.has('mount') && boot.has('init_module') && boot.has('swapon'));
});

test('workloads see their own cgroups read-only, right after /sys; other classes do not', () => {
  const w = build(`${WORKLOAD}[[mounts]]\ntype = "tmpfs"\ndestination = "/cache"\n`).spec;
  const m = mountAt(w, '/sys/fs/cgroup');
  assert.deepEqual(m, { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] });
  const order = w.mounts.map((x) => x.destination);
  assert.equal(order.indexOf('/sys/fs/cgroup'), order.indexOf('/sys') + 1);
  assert.ok(order.indexOf('/sys/fs/cgroup') < order.indexOf('/cache'), 'before the unit mounts');
  for (const text of [HOST, SUPER, BOOTSTRAP]) assert.equal(mountAt(build(text).spec, '/sys/fs/cgroup'), undefined, text);
});

test('withCgroupMount: a copy, once, not over a mount already there', () => {
  const u = unit(WORKLOAD);
  const resolved = resolveInputs(u, ctx());
  assert.ok(resolved.ok);
  const plain = defaultSpec();
  const once = withCgroupMount(plain, resolved.input);
  assert.equal(mountAt(plain, '/sys/fs/cgroup'), undefined, 'input untouched');
  assert.equal(mountAt(once, '/sys/fs/cgroup')?.type, 'cgroup');
  assert.equal(withCgroupMount(once, resolved.input).mounts.length, once.mounts.length);
  const own: OciSpec = { ...plain, mounts: [...plain.mounts, { destination: '/sys/fs/cgroup', type: 'tmpfs', source: 'tmpfs', options: [] }] };
  assert.equal(withCgroupMount(own, resolved.input).mounts.filter((x) => x.destination === '/sys/fs/cgroup').length, 1);
  // The shared constant cannot be changed through a built spec.
  mountAt(once, '/sys/fs/cgroup')!.options.push('rw');
  assert.deepEqual(mountAt(withCgroupMount(plain, resolved.input), '/sys/fs/cgroup')?.options, ['ro', 'nosuid', 'noexec', 'nodev']);
});

test('API socket is mounted read-only at /run/berth/api.sock for host and bootstrap only', () => {
  for (const text of [HOST, SUPER, BOOTSTRAP]) {
    const m = mountAt(build(text).spec, '/run/berth/api.sock');
    assert.equal(m?.source, '/run/berth/api.sock');
  }
  const w = build(WORKLOAD).spec;
  assert.equal(mountAt(w, '/run/berth/api.sock'), undefined);
  assert.ok(!w.mounts.some((m) => m.source === '/run/berth/api.sock'));
});

test('persistent dir for host and bootstrap, returned in hostDirs', () => {
  for (const text of [HOST, BOOTSTRAP]) {
    const r = build(text, { stateDir: '/state' });
    assert.deepEqual(r.hostDirs, ['/state/host-containers/demo']);
    const m = mountAt(r.spec, '/.berth/host-containers/demo');
    assert.equal(m?.source, '/state/host-containers/demo');
    assert.ok(m?.options.includes('rw'));
  }
  assert.deepEqual(build(WORKLOAD).hostDirs, []);
  const none = build(`${HOST}persistent-storage = false\n`);
  assert.deepEqual(none.hostDirs, []);
  assert.equal(mountAt(none.spec, '/.berth/host-containers/demo'), undefined);
});

test('workload bind sources must be inside the allow-list, component aware, with ".." resolved', () => {
  const mount = (source: string) => `${WORKLOAD}[[mounts]]\ntype = "bind"\nsource = "${source}"\ndestination = "/data"\n`;
  const ok = build(mount('/srv/volumes/app/../app2'));
  assert.equal(mountAt(ok.spec, '/data')?.source, '/srv/volumes/app2');
  assert.ok(mountAt(ok.spec, '/data')?.options.includes('nosuid'));
  for (const source of ['/etc', '/srv/volumes/../../etc', '/srv/volumes-evil', '/srv']) {
    assert.ok(buildErrors(mount(source)).some((e) => e.path === 'mounts[0].source' && /outside/.test(e.message)), source);
  }
});

test('workload binds may not expose the API socket even inside the allow-list', () => {
  const text = `${WORKLOAD}[[mounts]]\ntype = "bind"\nsource = "/run/berth"\ndestination = "/data"\n`;
  const errors = buildErrors(text, { hostPathAllowList: ['/run'] });
  assert.ok(errors.some((e) => e.path === 'mounts[0].source' && /API socket/.test(e.message)));
});

test('host units may bind any absolute host path', () => {
  const s = build(`${HOST}[[mounts]]\ntype = "bind"\nsource = "/etc/ssh"\ndestination = "/host-ssh"\n`).spec;
  assert.deepEqual(mountAt(s, '/host-ssh'), { destination: '/host-ssh', type: 'bind', source: '/etc/ssh', options: ['rbind', 'ro'] });
});

test('resources become memory limit, CPU quota/period and pids limit', () => {
  const s = build(`${WORKLOAD}[resources]\nmemory = "256Mi"\ncpus = 1.5\npids = 64\n`).spec;
  assert.deepEqual(s.linux.resources.memory, { limit: 268435456, swap: 268435456 });
  assert.deepEqual(s.linux.resources.cpu, { quota: 150000, period: 100000 });
  assert.deepEqual(s.linux.resources.pids, { limit: 64 });
  assert.equal(build(HOST).spec.linux.resources.memory, undefined);
});

test('tmpfs mounts carry size, mode and options', () => {
  const s = build(`${WORKLOAD}[[mounts]]\ntype = "tmpfs"\ndestination = "/tmp"\nsize = "16Mi"\nmode = "1777"\noptions = ["noexec"]\n[[mounts]]\ntype = "tmpfs"\ndestination = "/cache"\n`).spec;
  assert.deepEqual(mountAt(s, '/tmp'), { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'nosuid', 'nodev', 'size=16777216', 'mode=1777'] });
  assert.deepEqual(mountAt(s, '/cache')?.options, ['nosuid', 'nodev', `size=${64 * 1024 * 1024}`, 'mode=1777']);
});

test('unit mounts are ordered parents first', () => {
  const s = build(`${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "/a/b"\n[[mounts]]\ntype = "tmpfs"\ndestination = "/a"\n`).spec;
  const order = s.mounts.map((m) => m.destination);
  assert.ok(order.indexOf('/a') < order.indexOf('/a/b'));
});

test('devices become device nodes and cgroup allow rules', () => {
  const s = build(`${HOST}devices = [{ path = "/dev/fuse", permissions = "rw" }]\n`).spec;
  assert.deepEqual(s.linux.devices, [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }]);
  assert.deepEqual(s.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' });
  assert.deepEqual(s.linux.resources.devices[0], { allow: false, access: 'rwm' });
});

test('unknown devices need numbers from the caller', () => {
  const text = `${HOST}devices = [{ path = "/dev/sdz", permissions = "r" }]\n`;
  assert.ok(buildErrors(text).some((e) => e.path === 'devices[0].path'));
  const s = build(text, { deviceNodes: { '/dev/sdz': { type: 'b', major: 8, minor: 400 } } }).spec;
  assert.equal(s.linux.devices?.[0]?.type, 'b');
});

test('process args: command replaces entrypoint (and drops cmd), args replace cmd', () => {
  assert.deepEqual(build(HOST).spec.process.args, ['/entry', '--serve']);
  assert.deepEqual(build(`${HOST}args = ["--debug"]\n`).spec.process.args, ['/entry', '--debug']);
  assert.deepEqual(build(`${HOST}command = ["/bin/sh"]\n`).spec.process.args, ['/bin/sh']);
  assert.deepEqual(build(`${HOST}command = ["/bin/sh"]\nargs = ["-c", "x"]\n`).spec.process.args, ['/bin/sh', '-c', 'x']);
  const empty = { env: [], entrypoint: [], cmd: [], workingDir: '', user: '' };
  assert.ok(buildErrors(HOST, { imageConfig: empty }).some((e) => e.path === 'command'));
});

test('env is image env plus unit env, the unit winning', () => {
  const s = build(`${HOST}[env]\nLANG = "C.UTF-8"\nMODE = "x"\n`).spec;
  assert.deepEqual(s.process.env, ['PATH=/bin', 'LANG=C.UTF-8', 'MODE=x']);
  const noImageEnv = build(HOST, { imageConfig: { env: [], entrypoint: ['/e'], cmd: [], workingDir: '', user: '' } }).spec;
  assert.deepEqual(noImageEnv.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
});

test('cwd and user come from the unit, else from the image', () => {
  assert.equal(build(HOST).spec.process.cwd, '/srv');
  assert.equal(build(`${HOST}working-dir = "/work"\n`).spec.process.cwd, '/work');
  assert.deepEqual(build(`${HOST}user = "1000:100"\n`).spec.process.user, { uid: 1000, gid: 100 });
  const img = (user: string) => ({ env: [], entrypoint: ['/e'], cmd: [], workingDir: '', user });
  assert.deepEqual(build(HOST, { imageConfig: img('33') }).spec.process.user, { uid: 33, gid: 0 });
  assert.ok(buildErrors(HOST, { imageConfig: img('www-data') }).some((e) => e.path === 'user'));
  assert.deepEqual(build(`${HOST}user = "5"\n`, { imageConfig: img('www-data') }).spec.process.user, { uid: 5, gid: 0 });
});

test('cgroups path is /<namespace>/<container id>', () => {
  assert.equal(build(HOST, { namespace: 'ns1', containerId: 'c1' }).spec.linux.cgroupsPath, '/ns1/c1');
  assert.equal(build(HOST, { namespace: 'ns1', containerId: 'c1', runDir: '/run/berth/' }).spec.linux.cgroupsPath, '/ns1/c1');
});

test('another berth on the host (another run dir) gets a cgroup parent of its own: same namespace and id never share a cgroup', () => {
  const a = build(HOST, { namespace: 'berth', containerId: 'control', runDir: '/tmp/bd-a/run' }).spec.linux.cgroupsPath;
  const b = build(HOST, { namespace: 'berth', containerId: 'control', runDir: '/tmp/bd-b/run' }).spec.linux.cgroupsPath;
  assert.match(a ?? '', /^\/berth-[0-9a-f]{8}\/control$/);
  assert.match(b ?? '', /^\/berth-[0-9a-f]{8}\/control$/);
  assert.notEqual(a, b);
  assert.equal(build(HOST, { namespace: 'berth', containerId: 'control', runDir: '/tmp/bd-a/run/' }).spec.linux.cgroupsPath, a, 'stable for one run dir');
  // Without a run dir, the API socket's dir is the run dir.
  assert.equal(build(HOST, { namespace: 'berth', containerId: 'control', apiSocketPath: '/tmp/bd-a/run/api.sock' }).spec.linux.cgroupsPath, a);
  assert.equal(cgroupParent('berth', '/run/berth'), '/berth');
});

test('two workloads get different MCS pairs from allocateMcs', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const first = allocateMcs([], random);
  const second = allocateMcs([first], random);
  assert.notDeepEqual([...first].sort(), [...second].sort());
  for (const pair of [first, second]) {
    assert.ok(pair[0] < pair[1] && pair[0] >= 0 && pair[1] <= 1023);
  }
  const a = build(WORKLOAD, { mcs: first }).selinux.processLabel;
  const b = build(WORKLOAD, { mcs: second }).selinux.processLabel;
  assert.notEqual(a, b);
});

test('allocateMcs treats used pairs as unordered and scans when random keeps colliding', () => {
  assert.deepEqual(allocateMcs([[1, 0]], () => 0), [0, 2]);
  assert.deepEqual(allocateMcs([], () => 0.999999999), [1022, 1023]);
  // The scan wraps around from the last pair to the first.
  assert.deepEqual(allocateMcs([[1023, 1022]], () => 0.999999999), [0, 1]);
  assert.deepEqual(allocateMcs([[0, 1], [0, 2]], () => 0), [0, 3]);
});

test('allocateMcs finds the last free pair and throws only when none is left', () => {
  const all: Array<[number, number]> = [];
  for (let a = 0; a < 1024; a += 1) for (let b = a + 1; b < 1024; b += 1) all.push([a, b]);
  const free = all.splice(300_000, 1)[0]!;
  assert.deepEqual(allocateMcs(all, Math.random), free);
  all.push(free);
  assert.throws(() => allocateMcs(all, Math.random), RangeError);
});

test('SpecOpts are pure: they do not modify their input spec', () => {
  const u = unit(`${HOST}[env]\nA = "1"\n`);
  const resolved = resolveInputs(u, ctx());
  assert.ok(resolved.ok);
  if (!resolved.ok) return;
  const before = defaultSpec();
  const snapshot = structuredClone(before);
  for (const opt of specOptsFor(u)) opt(before, resolved.input);
  assert.deepEqual(before, snapshot);
  assert.notDeepEqual(withEnv(before, resolved.input).process.env, before.process.env);
});

test('buildSpec does not modify the unit', () => {
  const u = unit(`${WORKLOAD}[[mounts]]\ntype = "bind"\nsource = "/srv/volumes/x/../y"\ndestination = "/d"\n`);
  const snapshot = structuredClone(u);
  buildSpec(u, ctx());
  assert.deepEqual(u, snapshot);
});

test('superpowered: a host without /lib/modules gets no /lib/modules mount', () => {
  const s = build(SUPER, { absentHostPaths: ['/lib/modules'] }).spec;
  assert.equal(mountAt(s, '/lib/modules'), undefined);
  assert.equal(mountAt(s, '/.berth/rootfs')?.source, '/');
});
