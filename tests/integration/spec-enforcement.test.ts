import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { IDLE, waitUnit } from '../support/units.js';
import { importArchive } from '../../src/images/import.js';
import { decodeJsonAny } from '../../src/containerd/codec.js';
import { BerthClient } from '../../src/cli/client.js';
import { KNOWN_CAPABILITIES, CONTAINERD_DEFAULT_CAPS, BOOTSTRAP_EXTRA_CAPS, WORKLOAD_DEFAULT_CAPS } from '../../src/units/capabilities.js';
import type { ContainerdClient } from '../../src/containerd/client.js';

const NS = 'berth';
const USER_DATA = Buffer.from('user data for host1\n').toString('base64');
const PROBE = 'grep -E "^(CapEff|NoNewPrivs):" /proc/self/status; touch /rootfs-write 2>&1 || true; touch /scratch/ok && echo tmpfs-writable';

const units: Record<string, string> = {
  host1: `name = "host1"
class = "host"
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(IDLE)}]
user-data = "${USER_DATA}"
[[mounts]]
type = "tmpfs"
destination = "/scratch"
`,
  super1: `name = "super1"
class = "host"
superpowered = true
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(IDLE)}]
[[mounts]]
type = "tmpfs"
destination = "/scratch"
`,
  boot1: `name = "boot1"
class = "bootstrap"
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(`${PROBE}; echo pid1=$(cat /proc/1/comm)`)}]
[[mounts]]
type = "tmpfs"
destination = "/scratch"
[bootstrap]
mode = "always"
`,
  work1: `name = "work1"
class = "workload"
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(IDLE)}]
[[mounts]]
type = "tmpfs"
destination = "/scratch"
`,
  work2: `name = "work2"
class = "workload"
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(IDLE)}]
`,
};

let ctd: TestContainerd;
let cc: ContainerdClient;
let b: TestBerthd;
let client: BerthClient;

before(async () => {
  ctd = await TestContainerd.start();
  cc = ctd.client(NS);
  await importArchive(cc, await busyboxArchive(), { namespace: NS });
  b = await TestBerthd.create({ containerd: ctd, units });
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
  for (const u of ['host1', 'super1', 'work1', 'work2']) await waitUnit(client, u, (s) => s.state === 'running', 20_000);
});
after(async () => {
  client?.close();
  cc?.close();
  await b?.stop();
  await ctd?.stop();
});

function hostBounding(): bigint {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapBnd:'))!;
  return BigInt(`0x${line.split(/\s+/)[1]}`);
}
function mask(names: readonly string[]): bigint {
  return names.reduce((m, n) => m | (1n << BigInt(KNOWN_CAPABILITIES.indexOf(n))), 0n) & hostBounding();
}
function capEff(out: string): bigint {
  return BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(out)![1]}`);
}

async function run(unit: string, script: string): Promise<string> {
  const h = client.units.exec({ unit, args: ['/bin/sh', '-c', script], tty: false });
  h.stdin.end();
  let out = '';
  h.stdout.on('data', (c: Buffer) => (out += c.toString()));
  h.stderr.on('data', (c: Buffer) => (out += c.toString()));
  await h.exitCode;
  return out;
}

async function recordedSpec(id: string): Promise<{ process: { selinuxLabel?: string }; linux: { mountLabel?: string } }> {
  return decodeJsonAny((await cc.getContainer(id)).spec)!;
}

test('host: read-only root, declared tmpfs writable, containerd default caps, NoNewPrivs 1, user-data present', async () => {
  const out = await run('host1', `${PROBE}; cat /.berth/host-containers/host1/user-data`);
  assert.match(out, /Read-only file system/);
  assert.match(out, /tmpfs-writable/);
  assert.equal(capEff(out), mask(CONTAINERD_DEFAULT_CAPS));
  assert.match(out, /NoNewPrivs:\s+1/);
  assert.match(out, /user data for host1/);
});

test('host + superpowered: all host capabilities, NoNewPrivs 0, host root visible at /.berth/rootfs and not writable', async () => {
  const out = await run('super1', `${PROBE}; test -e /.berth/rootfs/proc/1 && echo host-root-visible; touch /.berth/rootfs/berth-test 2>&1 || true`);
  assert.equal(capEff(out), hostBounding());
  assert.match(out, /NoNewPrivs:\s+0/);
  assert.match(out, /host-root-visible/);
  assert.equal((out.match(/Read-only file system/g) ?? []).length, 2, out);
});

test('bootstrap: bootstrap capability set, NoNewPrivs 1, read-only root, host PID namespace', async () => {
  const lines: string[] = [];
  for await (const l of client.units.logs('boot1', {})) lines.push(l.line);
  const out = lines.join('\n');
  assert.equal(capEff(out), mask([...CONTAINERD_DEFAULT_CAPS, ...BOOTSTRAP_EXTRA_CAPS]));
  assert.match(out, /NoNewPrivs:\s+1/);
  assert.match(out, /Read-only file system/);
  assert.match(out, /tmpfs-writable/);
  const hostInit = readFileSync('/proc/1/comm', 'utf8').trim();
  assert.match(out, new RegExp(`pid1=${hostInit}`));
});

test('workload: restricted caps, NoNewPrivs 1, read-only root, no host paths, no API socket', async () => {
  const out = await run('work1', `${PROBE}; ls /.berth 2>&1; ls /run/berth/api.sock 2>&1; cat /proc/1/comm`);
  assert.equal(capEff(out), mask(WORKLOAD_DEFAULT_CAPS));
  assert.match(out, /NoNewPrivs:\s+1/);
  assert.match(out, /Read-only file system/);
  assert.match(out, /\/\.berth: No such file or directory/);
  assert.match(out, /api\.sock: No such file or directory/);
  assert.match(out, /^sh$/m, 'own PID namespace: PID 1 is the workload shell');
});

test('recorded SELinux labels per class; two workloads never share MCS categories', async () => {
  const labels = async (id: string): Promise<[string, string, string]> => {
    const c = await cc.getContainer(id);
    return [c.labels['berth.selinux.process-label']!, c.labels['berth.selinux.mount-label']!, c.labels['berth.selinux.applied']!];
  };
  assert.deepEqual(await labels('host1'), ['system_u:system_r:control_t:s0-s0:c0.c1023', 'system_u:object_r:secret_t:s0', 'false']);
  assert.deepEqual(await labels('super1'), ['system_u:system_r:super_t:s0-s0:c0.c1023', 'system_u:object_r:secret_t:s0', 'false']);
  const [w1, w1m] = await labels('work1');
  const [w2] = await labels('work2');
  const cats = (l: string): string => /:s0:(c\d+,c\d+)$/.exec(l)![1]!;
  assert.match(w1, /^system_u:system_r:container_t:s0:c\d+,c\d+$/);
  assert.equal(w1m, `system_u:object_r:container_file_t:s0:${cats(w1)}`);
  assert.notEqual(cats(w1), cats(w2));
  // SELinux is off on this host: the labels are recorded, not put into the runtime spec (runc would refuse).
  const spec = await recordedSpec('work1');
  assert.equal(spec.process.selinuxLabel, undefined);
  assert.equal(spec.linux.mountLabel, undefined);
  const status = await client.units.get('work1');
  assert.equal(status.selinux?.applied, false);
  assert.match(status.selinux?.reason ?? '', /not active/);
});

test('selinux.mode=enforce refuses to start labelled units when SELinux is inactive, and says why', async () => {
  const r = await client.settings.set({ 'selinux.mode': 'enforce' });
  assert.ok(r.includes('selinux.mode'));
  await client.units.restart('work2').catch(() => undefined);
  const w2 = await waitUnit(client, 'work2', (u) => u.state === 'failed', 20_000, 'refused under enforce');
  assert.match(w2.lastError ?? '', /enforce requires SELinux/);
  await client.settings.set({ 'selinux.mode': 'auto' });
  await client.units.start('work2');
  assert.equal((await client.units.get('work2')).state, 'running');
});
