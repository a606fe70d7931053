import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, stat, chmod } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { waitUnit } from '../support/units.js';
import { withDeadline } from '../support/wait.js';
import { BerthClient, ApiError } from '../../src/cli/client.js';

const execFileP = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');
const NS = 'berth';

let ctd: TestContainerd;
let b: TestBerthd;
let client: BerthClient;

before(async () => {
  ctd = await TestContainerd.start();
  b = await TestBerthd.create({ containerd: ctd, shippedUnits: true });
  await b.start(60_000);
  client = BerthClient.connect({ socketPath: b.socket });
});
after(async () => {
  client?.close();
  await b?.stop();
  await ctd?.stop();
});

async function berthctl(args: string[], opts: { uid?: number; gid?: number; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, '--socket', b.socket, ...args], { uid: opts.uid, gid: opts.gid, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

test('control runs by default from the built-in image; admin is defined but stopped', async () => {
  const control = await client.units.get('control');
  assert.equal(control.state, 'running');
  assert.equal(control.image, 'localhost/berth/control:latest');
  const admin = await client.units.get('admin');
  assert.equal(admin.state, 'stopped');
  assert.equal(admin.superpowered, true);
});

test('set host-containers.admin.enabled=true → admin RUNNING, superpowered, super_t; =false → stopped and removed; control untouched', async () => {
  const controlPid = (await client.units.get('control')).pid;
  const set = await berthctl(['set', 'host-containers.admin.enabled=true']);
  assert.equal(set.code, 0, set.stderr);
  const admin = await waitUnit(client, 'admin', (u) => u.state === 'running', 20_000, 'admin running');
  assert.equal(admin.superpowered, true);
  assert.equal(admin.selinux?.processLabel, 'system_u:system_r:super_t:s0-s0:c0.c1023');
  const rec = await ctd.client(NS).getContainer('admin');
  assert.equal(rec.labels['berth.selinux.process-label'], 'system_u:system_r:super_t:s0-s0:c0.c1023');
  // superpowered: host PID namespace and the host root at /.berth/rootfs, read-only
  const exec = client.units.exec({ unit: 'admin', args: ['/bin/sh', '-c', 'ls /.berth/rootfs/etc/os-release && touch /.berth/rootfs/x 2>&1; grep CapEff /proc/self/status'], tty: false });
  exec.stdin.end();
  let out = '';
  exec.stdout.on('data', (c: Buffer) => (out += c.toString()));
  assert.equal(await exec.exitCode, 0);
  assert.match(out, /os-release/);
  assert.match(out, /Read-only file system/);

  const off = await berthctl(['set', 'host-containers.admin.enabled=false']);
  assert.equal(off.code, 0, off.stderr);
  await waitUnit(client, 'admin', (u) => u.state === 'stopped', 20_000, 'admin stopped');
  const ids = (await ctd.client(NS).listContainers()).map((c) => c.id);
  assert.ok(!ids.includes('admin'), 'admin container removed');
  const control = await client.units.get('control');
  assert.equal(control.pid, controlPid, 'control kept its pid');
  assert.equal(control.restarts, 0);
});

test('bad values change nothing and name the key; an apply document with one bad entry applies none', async () => {
  const before = await berthctl(['get']);
  const cases: [string[], RegExp][] = [
    [['set', 'host-containers.admin.enabled=maybe'], /host-containers\.admin\.enabled: expected true or false, got "maybe"/],
    [['set', 'host-containers.admin.enabeld=true'], /host-containers\.admin\.enabeld: unknown setting/],
    [['set', 'host-containers.control.user-data=not*base64'], /host-containers\.control\.user-data/],
    [['set', `host-containers.control.source=${'a'.repeat(70 * 1024)}`], /host-containers\.control\.source/],
  ];
  for (const [args, re] of cases) {
    const r = await berthctl(args);
    assert.equal(r.code, 1, `${args.join(' ')} should fail`);
    assert.match(r.stderr, re);
  }
  const doc = '[settings.host-containers.control]\nuser-data = "aGVsbG8="\n[settings.host-containers.admin]\nenabled = "sometimes"\n';
  const applied = await withDeadline(client.settings.apply(doc, 'toml').then(() => 'ok', (e: ApiError) => e), 10_000, 'apply');
  assert.ok(applied instanceof ApiError);
  assert.match(applied.message, /host-containers\.admin\.enabled/);
  assert.equal((await berthctl(['get'])).stdout, before.stdout, 'nothing changed');
});

test('a new host container added purely through settings runs; its user-data is in its persistent dir', async () => {
  const userData = Buffer.from('hello from settings\n').toString('base64');
  const r = await berthctl(['set', 'host-containers.extra.source=localhost/berth/control:latest', 'host-containers.extra.enabled=true', `host-containers.extra.user-data=${userData}`]);
  assert.equal(r.code, 0, r.stderr);
  await waitUnit(client, 'extra', (u) => u.state === 'running', 20_000, 'extra running');
  const onHost = path.join(b.stateDir, 'host-containers', 'extra', 'user-data');
  assert.equal(await readFile(onHost, 'utf8'), 'hello from settings\n');
  const h = client.units.exec({ unit: 'extra', args: ['/bin/cat', '/.berth/host-containers/extra/user-data'], tty: false });
  h.stdin.end();
  let out = '';
  h.stdout.on('data', (c: Buffer) => (out += c.toString()));
  assert.equal(await h.exitCode, 0);
  assert.equal(out, 'hello from settings\n');
});

test('exec: exit code passed through; -t gives a working TTY with the asked size', async () => {
  const t0 = Date.now();
  const r = await berthctl(['exec', 'control', '--', 'sh', '-c', 'echo out; exit 7']);
  console.log(`berthctl exec took ${Date.now() - t0} ms`);
  assert.equal(r.code, 7);
  assert.equal(r.stdout, 'out\n');
  // (Debian's static busybox cannot read a pty's window size, so the size is checked by ResizePty succeeding.)
  const h = client.units.exec({ unit: 'control', args: ['/bin/sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; read line; echo "got $line"'], tty: true, cols: 101, rows: 33 });
  let out = '';
  h.stdout.on('data', (c: Buffer) => (out += c.toString()));
  h.resize(120, 40);
  h.stdin.write('typed\n');
  assert.equal(await h.exitCode, 0);
  h.stdin.end();
  assert.match(out, /\/dev\/pts\/\d+/);
  assert.match(out, /both-ttys/);
  assert.match(out, /typed\r\n/, 'the terminal echoes input');
  assert.match(out, /got typed/);
});

test('logs --follow keeps following across a unit restart; events show state changes as they happen', async () => {
  const follow = new AbortController();
  const lines: string[] = [];
  const reader = (async () => {
    for await (const l of client.units.logs('control', { tail: 0, follow: true, signal: follow.signal })) {
      lines.push(l.line);
      if (lines.filter((x) => /ready/.test(x)).length >= 2) follow.abort();
    }
  })();
  const events = new AbortController();
  const seen: string[] = [];
  const watcher = (async () => {
    for await (const e of client.events.watch({ signal: events.signal })) {
      if (e.kind === 'unit' && e.unit === 'control') seen.push(e.state);
      if (seen.includes('stopping') && seen.includes('running')) events.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  await client.units.restart('control');
  await client.units.restart('control');
  await withDeadline(reader, 20_000, 'two "ready" lines followed across restarts');
  await withDeadline(watcher, 20_000, 'stopping and running events');
  assert.ok(seen.includes('stopped') && seen.includes('running'), seen.join());
  const cli = await berthctl(['logs', 'control', '--tail', '1']);
  assert.equal(cli.code, 0);
  assert.match(cli.stdout, /control container ready/);
});

test('the socket is 0660 and a non-root user without the berth group is refused', async () => {
  const st = await stat(b.socket);
  assert.equal(st.mode & 0o777, 0o660);
  await chmod(path.dirname(b.socket), 0o755);
  await chmod(b.dir, 0o755);
  const r = await berthctl(['units'], { uid: 65534, gid: 65534 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /permission denied|EACCES|cannot reach/i);
});

test('unit dirs are read at start-up and on reload (SIGHUP), not on a settings commit', async () => {
  await b.writeUnit('fromfile', `name = "fromfile"
class = "host"
image = "localhost/berth/control:latest"
command = ["/bin/sh", "-c", "exec sleep 3600"]
persistent-storage = false
[stop]
timeout = "2s"
`);
  try {
    const set = await berthctl(['set', 'host-containers.admin.enabled=true']);
    assert.equal(set.code, 0, set.stderr);
    // The commit's reconcile has run once admin runs; the new file is not part of it.
    await waitUnit(client, 'admin', (u) => u.state === 'running', 20_000, 'admin running');
    assert.ok(!(await client.units.list()).some((u) => u.name === 'fromfile'), 'a commit does not read the unit dirs');
    assert.equal((await berthctl(['set', 'host-containers.admin.enabled=false'])).code, 0);
    process.kill(b.pid!, 'SIGHUP');
    const fromfile = await waitUnit(client, 'fromfile', (u) => u.state === 'running', 20_000, 'fromfile running after SIGHUP');
    assert.equal(fromfile.class, 'host');
  } finally {
    await rm(path.join(b.unitsDir, 'fromfile.toml'), { force: true });
  }
  process.kill(b.pid!, 'SIGHUP');
  await withDeadline((async () => {
    while ((await client.units.list()).some((u) => u.name === 'fromfile')) await new Promise((r) => setImmediate(r));
  })(), 20_000, 'fromfile removed after its file is gone and SIGHUP');
  assert.equal((await client.units.get('control')).state, 'running', 'control untouched by the reloads');
});
