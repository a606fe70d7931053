// Unit spec validation: each bad spec must be rejected with the field path named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatUnitError, parseUnit, specHash, validateUnit, type UnitError, type UnitSpec } from '../../src/units/index.js';
import { buildSpec, type SpecContext } from '../../src/ocispec/index.js';

const HOST = 'name = "demo"\nclass = "host"\nimage = "localhost/berth/demo:1.0"\n';
const WORKLOAD = 'name = "demo"\nclass = "workload"\nimage = "registry.example.com/team/app:1.2"\n';
const BOOTSTRAP = 'name = "demo"\nclass = "bootstrap"\nimage = "localhost/berth/setup:1"\n';
const BOOT_TABLE = '[bootstrap]\nmode = "once"\n';

function errorsOf(text: string): UnitError[] {
  const r = parseUnit(text, 'demo.toml');
  assert.equal(r.ok, false, `expected rejection of:\n${text}`);
  return r.ok ? [] : r.errors;
}

function assertRejected(text: string, path: string, messagePart?: string): void {
  const errors = errorsOf(text);
  const hit = errors.find((e) => e.path === path);
  assert.ok(hit, `no error at ${path}; got:\n${errors.map(formatUnitError).join('\n')}`);
  assert.equal(hit.file, 'demo.toml');
  assert.ok(hit.message.length > 0);
  if (messagePart !== undefined) assert.match(hit.message, new RegExp(messagePart, 'i'));
}

function accepted(text: string): UnitSpec {
  const r = parseUnit(text, 'demo.toml');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatUnitError).join('\n'));
  return r.unit;
}

const bad: Array<[string, string, string, string?]> = [
  ['relative mount destination', `${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "tmp"\n`, 'mounts[0].destination', 'absolute'],
  ['".." in mount destination', `${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "/a/../etc"\n`, 'mounts[0].destination', '\\.\\.'],
  ['mount destination inside /proc', `${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "/proc/sys"\n`, 'mounts[0].destination', '/proc'],
  ['mount destination over /etc/hosts of a host-network unit', `${HOST}[[mounts]]\ntype = "bind"\nsource = "/x"\ndestination = "/etc/hosts"\n`, 'mounts[0].destination'],
  ['duplicate mount destination', `${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "/a"\n[[mounts]]\ntype = "tmpfs"\ndestination = "/a"\n`, 'mounts[1].destination', 'already'],
  ['unknown mount type', `${HOST}[[mounts]]\ntype = "nfs"\ndestination = "/a"\n`, 'mounts[0].type', 'bind'],
  ['missing mount type', `${HOST}[[mounts]]\ndestination = "/a"\n`, 'mounts[0].type', 'required'],
  ['size on a bind mount', `${HOST}[[mounts]]\ntype = "bind"\nsource = "/x"\ndestination = "/a"\nsize = "1Mi"\n`, 'mounts[0].size', 'unknown key'],
  ['relative bind source', `${HOST}[[mounts]]\ntype = "bind"\nsource = "x"\ndestination = "/a"\n`, 'mounts[0].source', 'absolute'],
  ['unknown mount option', `${HOST}[[mounts]]\ntype = "bind"\nsource = "/x"\ndestination = "/a"\noptions = ["suid"]\n`, 'mounts[0].options[0]'],
  ['ro and rw together', `${HOST}[[mounts]]\ntype = "bind"\nsource = "/x"\ndestination = "/a"\noptions = ["ro", "rw"]\n`, 'mounts[0].options', 'contradict'],
  ['bind option on tmpfs', `${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "/a"\noptions = ["rbind"]\n`, 'mounts[0].options[0]'],
  ['bad tmpfs mode', `${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "/a"\nmode = "999"\n`, 'mounts[0].mode', 'octal'],
  ['bad tmpfs size', `${HOST}[[mounts]]\ntype = "tmpfs"\ndestination = "/a"\nsize = "lots"\n`, 'mounts[0].size', 'size'],
  ['unknown class', HOST.replace('"host"', '"daemon"'), 'class', 'one of'],
  ['missing class', HOST.replace('class = "host"\n', ''), 'class', 'required'],
  ['superpowered workload', `${WORKLOAD}superpowered = true\n`, 'superpowered', 'workload'],
  ['superpowered bootstrap', `${BOOTSTRAP}superpowered = true\n${BOOT_TABLE}`, 'superpowered', 'bootstrap'],
  ['superpowered as a string', `${HOST}superpowered = "yes"\n`, 'superpowered', 'boolean'],
  ['".." in name', HOST.replace('"demo"', '"../etc"'), 'name', 'letters'],
  ['name too long', HOST.replace('"demo"', `"${'a'.repeat(77)}"`), 'name', '76'],
  ['name starting with "-"', HOST.replace('"demo"', '"-demo"'), 'name'],
  ['empty name', HOST.replace('"demo"', '""'), 'name', 'empty'],
  ['missing image', HOST.replace(/image = .*\n/, ''), 'image', 'required'],
  ['image with spaces', HOST.replace('localhost/berth/demo:1.0', 'localhost/berth demo'), 'image', 'whitespace'],
  ['image with uppercase repository', HOST.replace('localhost/berth/demo:1.0', 'localhost/Berth/demo'), 'image'],
  ['image with a short digest', HOST.replace('localhost/berth/demo:1.0', 'localhost/demo@sha256:abc'), 'image', 'digest'],
  ['bad capability name', `${HOST}[capabilities]\nadd = ["CAP_FLY"]\n`, 'capabilities.add[0]', 'unknown capability'],
  ['ALL in capabilities.add', `${HOST}[capabilities]\nadd = ["ALL"]\n`, 'capabilities.add[0]', 'dropped'],
  ['capability both added and dropped', `${HOST}[capabilities]\nadd = ["NET_ADMIN"]\ndrop = ["CAP_NET_ADMIN"]\n`, 'capabilities.add[0]', 'both'],
  ['workload adds SYS_ADMIN', `${WORKLOAD}[capabilities]\nadd = ["SYS_ADMIN"]\n`, 'capabilities.add[0]', 'workloads may not add'],
  ['capabilities on a superpowered unit', `${HOST}superpowered = true\n[capabilities]\ndrop = ["NET_RAW"]\n`, 'capabilities', 'superpowered'],
  ['negative memory', `${HOST}[resources]\nmemory = -5\n`, 'resources.memory', 'greater than 0'],
  ['memory below the minimum', `${HOST}[resources]\nmemory = "1Ki"\n`, 'resources.memory', 'at least'],
  ['memory with a bad unit', `${HOST}[resources]\nmemory = "1GB"\n`, 'resources.memory', 'size'],
  ['cpus above 1024', `${HOST}[resources]\ncpus = 2000\n`, 'resources.cpus', '1024'],
  ['pids zero', `${HOST}[resources]\npids = 0\n`, 'resources.pids'],
  ['unknown top-level key', `${HOST}colour = "blue"\n`, 'colour', 'unknown key'],
  ['snake_case key', `${HOST}working_dir = "/srv"\n`, 'working_dir', 'working-dir'],
  ['unknown key in a table', `${HOST}[restart]\npolicy = "always"\ndelay = "5s"\n`, 'restart.delay', 'unknown key'],
  ['bad restart policy', `${HOST}[restart]\npolicy = "sometimes"\n`, 'restart.policy', 'one of'],
  ['bootstrap restart always', `${BOOTSTRAP}[restart]\npolicy = "always"\n${BOOT_TABLE}`, 'restart.policy', 'completion'],
  ['bad duration', `${HOST}[health]\ncommand = ["true"]\ninterval = "5 seconds"\n`, 'health.interval', 'duration'],
  ['zero health interval', `${HOST}[health]\ncommand = ["true"]\ninterval = "0s"\n`, 'health.interval', 'greater than 0'],
  ['health without command', `${HOST}[health]\ninterval = "5s"\n`, 'health.command', 'required'],
  ['health retries zero', `${HOST}[health]\ncommand = ["true"]\nretries = 0\n`, 'health.retries'],
  ['health timeout above interval', `${HOST}[health]\ncommand = ["true"]\ninterval = "2s"\ntimeout = "3s"\n`, 'health.timeout', 'interval'],
  ['bad stop signal', `${HOST}[stop]\nsignal = "SIGFOO"\n`, 'stop.signal', 'unknown signal'],
  ['bad base64 user-data', `${HOST}user-data = "not base64!"\n`, 'user-data', 'base64'],
  ['user-data too big', `${HOST}user-data = "${Buffer.alloc(16 * 1024 + 1).toString('base64')}"\n`, 'user-data', '16 KiB'],
  ['user-data on a workload', `${WORKLOAD}user-data = "aGk="\n`, 'user-data', 'host and bootstrap'],
  ['user-data without persistent storage', `${HOST}user-data = "aGk="\npersistent-storage = false\n`, 'user-data', 'persistent-storage'],
  ['persistent storage on a workload', `${WORKLOAD}persistent-storage = true\n`, 'persistent-storage'],
  ['bad env name', `${HOST}[env]\n"1BAD" = "x"\n`, 'env.1BAD', 'environment variable name'],
  ['env value not a string', `${HOST}[env]\nPORT = 8080\n`, 'env.PORT', 'string'],
  ['relative working-dir', `${HOST}working-dir = "srv"\n`, 'working-dir', 'absolute'],
  ['named user', `${HOST}user = "nobody"\n`, 'user', 'numeric'],
  ['bootstrap table on a host unit', `${HOST}${BOOT_TABLE}`, 'bootstrap', 'only valid for class "bootstrap"'],
  ['bootstrap unit without bootstrap table', BOOTSTRAP, 'bootstrap', 'required'],
  ['bad bootstrap mode', `${BOOTSTRAP}[bootstrap]\nmode = "twice"\n`, 'bootstrap.mode'],
  ['health on a bootstrap unit', `${BOOTSTRAP}[health]\ncommand = ["true"]\n${BOOT_TABLE}`, 'health', 'completion'],
  ['self-dependency', `${HOST}depends-on = ["demo"]\n`, 'depends-on[0]', 'itself'],
  ['invalid dependency name', `${HOST}depends-on = ["a b"]\n`, 'depends-on[0]'],
  ['workload host network', `${WORKLOAD}[namespaces]\nhost-network = true\n`, 'namespaces.host-network', 'workloads'],
  ['workload host pid', `${WORKLOAD}[namespaces]\nhost-pid = true\n`, 'namespaces.host-pid', 'workloads'],
  ['workload devices', `${WORKLOAD}devices = [{ path = "/dev/fuse", permissions = "rwm" }]\n`, 'devices', 'workloads'],
  ['device outside /dev', `${HOST}devices = [{ path = "/etc/passwd", permissions = "r" }]\n`, 'devices[0].path', '/dev/'],
  ['bad device permissions', `${HOST}devices = [{ path = "/dev/fuse", permissions = "rx" }]\n`, 'devices[0].permissions'],
  ['empty command', `${HOST}command = []\n`, 'command'],
];

for (const [title, text, path, message] of bad) {
  test(`rejects ${title} at ${path}`, () => assertRejected(text, path, message));
}

test('rejects a workload bind mount outside the host path allow-list (spec builder)', () => {
  const unit = accepted(`${WORKLOAD}[[mounts]]\ntype = "bind"\nsource = "/etc"\ndestination = "/data"\n`);
  const ctx: SpecContext = {
    containerId: 'demo', namespace: 'berth', stateDir: '/var/lib/berth', apiSocketPath: '/run/berth/api.sock',
    selinux: { mode: 'off', active: false }, mcs: [1, 2], hostPathAllowList: ['/var/lib/berth/volumes'],
    imageConfig: { env: [], entrypoint: ['/app'], cmd: [], workingDir: '', user: '' },
  };
  const r = buildSpec(unit, ctx);
  assert.equal(r.ok, false);
  if (!r.ok) assert.ok(r.errors.some((e) => e.path === 'mounts[0].source' && /outside/.test(e.message)));
});

test('TOML syntax errors name the file and the line', () => {
  const r = parseUnit(`${HOST}description = "unterminated\n`, 'admin.toml');
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0]?.file, 'admin.toml');
  assert.match(formatUnitError(r.errors[0]!), /^admin\.toml:4:\d+: invalid TOML: /);
});

test('formatUnitError renders file: path: message', () => {
  assert.equal(formatUnitError({ file: 'admin.toml', path: 'mounts[2].destination', message: 'must be an absolute path' }),
    'admin.toml: mounts[2].destination: must be an absolute path');
  assert.equal(formatUnitError({ path: 'name', message: 'x' }), 'name: x');
});

test('validateUnit never throws on non-objects and names the root', () => {
  for (const value of [null, undefined, 42, 'x', [], new Date(0)]) {
    const r = validateUnit(value, 'f.toml');
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.errors.every((e) => e.path.length > 0 && e.message.length > 0 && e.file === 'f.toml'));
  }
});

test('accepts a minimal host unit and applies host defaults', () => {
  const u = accepted(HOST);
  assert.equal(u.superpowered, false);
  assert.equal(u.persistentStorage, true);
  assert.deepEqual(u.namespaces, { hostNetwork: true, hostPid: false });
  assert.deepEqual(u.restart, { policy: 'always' });
  assert.deepEqual(u.stop, { timeoutMs: 20000 });
  assert.deepEqual(u.capabilities, { add: [], drop: [] });
  assert.equal(u.bootstrap, undefined);
  assert.equal(u.description, '');
});

test('accepts a superpowered host unit with host PID by default', () => {
  const u = accepted(`${HOST}superpowered = true\n`);
  assert.deepEqual(u.namespaces, { hostNetwork: true, hostPid: true });
});

test('accepts a bootstrap unit with bootstrap defaults', () => {
  const u = accepted(`${BOOTSTRAP}${BOOT_TABLE}essential = true\n`);
  assert.deepEqual(u.bootstrap, { mode: 'once', essential: true, order: 0 });
  assert.deepEqual(u.restart, { policy: 'never' });
  assert.deepEqual(u.namespaces, { hostNetwork: true, hostPid: true });
  assert.equal(u.persistentStorage, true);
});

test('accepts a full workload and converts quantities', () => {
  const u = accepted(`${WORKLOAD}description = "demo app"
command = ["/app"]
args = ["--port", "8080"]
working-dir = "/srv"
user = "1000:1000"
depends-on = ["db"]
[env]
PORT = "8080"
[[mounts]]
type = "bind"
source = "/var/lib/berth/volumes/demo"
destination = "/data"
options = ["rw"]
[[mounts]]
type = "tmpfs"
destination = "/tmp"
size = "64Mi"
mode = "1777"
[capabilities]
add = ["net_raw"]
drop = ["CAP_CHOWN"]
[resources]
memory = "256Mi"
cpus = 0.5
pids = 100
[restart]
policy = "on-failure"
[health]
command = ["/app", "check"]
interval = "1m30s"
timeout = "500ms"
start-period = "0s"
retries = 2
[stop]
signal = "INT"
timeout = "1m"
`);
  assert.deepEqual(u.user, { uid: 1000, gid: 1000 });
  assert.deepEqual(u.env, { PORT: '8080' });
  assert.deepEqual(u.mounts[0], { type: 'bind', source: '/var/lib/berth/volumes/demo', destination: '/data', options: ['rbind', 'rw'] });
  assert.deepEqual(u.mounts[1], { type: 'tmpfs', destination: '/tmp', sizeBytes: 64 * 1024 * 1024, mode: 0o1777, options: ['nosuid', 'nodev'] });
  assert.deepEqual(u.capabilities, { add: ['CAP_NET_RAW'], drop: ['CAP_CHOWN'] });
  assert.deepEqual(u.resources, { memoryBytes: 256 * 1024 * 1024, cpus: 0.5, pids: 100 });
  assert.deepEqual(u.health, { command: ['/app', 'check'], intervalMs: 90_000, timeoutMs: 500, startPeriodMs: 0, retries: 2 });
  assert.deepEqual(u.stop, { signal: 'SIGINT', timeoutMs: 60_000 });
  assert.deepEqual(u.namespaces, { hostNetwork: false, hostPid: false });
  assert.equal(u.persistentStorage, false);
  assert.deepEqual(u.dependsOn, ['db']);
});

test('bind mounts default to rbind and read-only', () => {
  const u = accepted(`${HOST}[[mounts]]\ntype = "bind"\nsource = "/srv/x"\ndestination = "/x"\n`);
  assert.deepEqual(u.mounts[0], { type: 'bind', source: '/srv/x', destination: '/x', options: ['rbind', 'ro'] });
});

test('memory accepts integer bytes and binary units, Docker\'s single letters included', () => {
  assert.equal(accepted(`${HOST}[resources]\nmemory = 1073741824\n`).resources.memoryBytes, 1024 ** 3);
  assert.equal(accepted(`${HOST}[resources]\nmemory = "1G"\n`).resources.memoryBytes, 1024 ** 3);
  assert.equal(accepted(`${HOST}[resources]\nmemory = "64m"\n`).resources.memoryBytes, 64 * 1024 ** 2);
});

test('accepts digests, registries with ports and SIGRTMIN+3', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  accepted(HOST.replace('localhost/berth/demo:1.0', `registry.example.com:5000/a/b@${digest}`));
  assert.equal(accepted(`${HOST}[stop]\nsignal = "SIGRTMIN+3"\n`).stop.signal, 'SIGRTMIN+3');
});

test('specHash is stable under key order and changes with content', () => {
  const a = accepted(`${HOST}[env]\nA = "1"\nB = "2"\n`);
  const b = accepted(`${HOST}[env]\nB = "2"\nA = "1"\n`);
  const c = accepted(`${HOST}[env]\nA = "1"\nB = "3"\n`);
  assert.match(specHash(a), /^[0-9a-f]{64}$/);
  assert.equal(specHash(a), specHash(b));
  assert.notEqual(specHash(a), specHash(c));
});
