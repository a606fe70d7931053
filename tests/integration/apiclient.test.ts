// berth-apiclient as brupop's agent runs it (a child process per call: `raw -u PATH [-m POST]`, reading stdout,
// stderr and the exit status), against a real berthd with a real update repository (built by berth-repo,
// served on 127.0.0.1) and an A/B disk image (image/disk.sh) as its boot disk, slot A running (--kernel-cmdline).
// brupop's whole sequence: refresh → Available with chosen_update → prepare → (poll) Staged → activate → Ready
// with the staging partition next to boot → deactivate → Staged; 423 while an operation holds the lock; /os;
// 404; the reboot action answering, then running updates.reboot-command. A second berthd without a boot disk: partitions null
// and a failed activate recorded as brupop reads it. As root (containerd, loop devices for the slot check).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestBerthd } from '../support/berthd.js';
import { TestContainerd } from '../support/containerd.js';
import { makeBuild, makeDisk, MiB } from '../support/disk-image.js';
import { mustRepo, publish, serveStatic, type StaticServer } from '../support/update-repo.js';
import { waitFor } from '../support/wait.js';
import { BerthClient } from '../../src/cli/client.js';

const APICLIENT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/berth-apiclient');

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

function apiclient(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(APICLIENT, args, { timeout: 30_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

/** A static repository behind a gate: target downloads wait while it is closed (an operation held running). */
async function gatedProxy(upstream: StaticServer): Promise<{ url: string; close(): void; open(): void; shut(): void }> {
  let gate: Promise<void> = Promise.resolve();
  let release: () => void = () => undefined;
  const server: Server = createServer((req, res) => {
    const forward = (): void => {
      const up = request(`${upstream.url}${req.url ?? '/'}`, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end();
    };
    if ((req.url ?? '').startsWith('/targets/')) void gate.then(forward);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    shut: () => {
      gate = new Promise<void>((r) => (release = r));
    },
    open: () => release(),
    close: () => {
      release();
      server.closeAllConnections();
      server.close();
    },
  };
}

let dir: string;
let ctd: TestContainerd;
let repoServer: StaticServer;
let proxy: Awaited<ReturnType<typeof gatedProxy>>;
const berthds: TestBerthd[] = [];

async function berthd(o: { bootDisk?: string; cmdline?: string; rebootCommand: string }): Promise<TestBerthd> {
  const osRelease = path.join(dir, 'os-release');
  await writeFile(osRelease, 'NAME=berth\nVERSION_ID=1.0.0\nVARIANT_ID=metal\nPRETTY_NAME="berth 1.0.0 (metal)"\nBUILD_ID=test-build\n');
  const b = await TestBerthd.create({
    containerd: ctd,
    extraArgs: [
      '--os-release', osRelease, '--update-trusted-root', path.join(dir, 'repo/metadata/1.root.json'),
      ...(o.bootDisk ? ['--boot-disk', o.bootDisk] : []), ...(o.cmdline ? ['--kernel-cmdline', o.cmdline] : []),
    ],
  });
  berthds.push(b);
  await appendFile(b.settingsDefaults, [
    '[settings.updates]', `metadata-base-url = "${proxy.url}/metadata"`, `targets-base-url = "${proxy.url}/targets"`,
    'ignore-waves = true', `reboot-command = ${JSON.stringify(o.rebootCommand)}`, '',
  ].join('\n'));
  await b.start(60_000);
  return b;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-apiclient-'));
  await mkdir(path.join(dir, 'v1'));
  await mkdir(path.join(dir, 'v2'));
  const v1 = await makeBuild(path.join(dir, 'v1'), '1.0.0', 4 * MiB);
  const v2 = await makeBuild(path.join(dir, 'v2'), '2.0.0', 4 * MiB);
  await makeDisk(v1, path.join(dir, 'disk.img'), { slotMib: 8 });
  const repo = path.join(dir, 'repo');
  await mustRepo(['init', repo]);
  await publish(repo, { version: '2.0.0', rootImage: v2.rootGz, kernel: v2.kernel, initramfs: v2.initramfs, rootHash: v2.rootHash, hashOffset: v2.hashOffset });
  repoServer = await serveStatic(repo);
  proxy = await gatedProxy(repoServer);
  ctd = await TestContainerd.start();
});

after(async () => {
  for (const b of berthds) await b.stop().catch(() => undefined);
  await ctd?.stop();
  proxy?.close();
  await repoServer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Status {
  update_state: string;
  available_updates: string[];
  chosen_update: { arch: string; version: string; variant: string } | null;
  active_partition: { image: { version: string } | null; next_to_boot: boolean } | null;
  staging_partition: { image: { version: string } | null; next_to_boot: boolean } | null;
  most_recent_command: { cmd_type: string; cmd_status: string; timestamp: string; exit_status: number; stderr: string };
}

test("brupop's sequence through berth-apiclient against berthd with an A/B boot disk", async () => {
  const cmdline = path.join(dir, 'cmdline');
  await writeFile(cmdline, 'root=/dev/mapper/vroot berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A ro\n');
  const marker = path.join(dir, 'rebooted');
  const b = await berthd({ bootDisk: path.join(dir, 'disk.img'), cmdline, rebootCommand: `echo "reboot requested" > '${marker}'` });
  // As brupop's DaemonSet would: the socket at the default path the executable reads (here, BERTH_SOCKET).
  const env = { BERTH_SOCKET: b.socket };
  const raw = (uri: string, method?: string): Promise<Run> => apiclient(['raw', '-u', uri, ...(method ? ['-m', method] : [])], env);
  const post = async (uri: string): Promise<void> => {
    const r = await raw(uri, 'POST');
    assert.deepEqual(r, { code: 0, signal: null, stdout: '', stderr: '' }, `POST ${uri}`);
  };
  const status = async (): Promise<Status> => {
    const r = await raw('/updates/status');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  };

  const osInfo = await raw('/os');
  assert.equal(osInfo.code, 0, osInfo.stderr);
  assert.deepEqual(JSON.parse(osInfo.stdout), { pretty_name: 'berth 1.0.0 (metal)', variant_id: 'metal', version_id: '1.0.0', build_id: 'test-build', arch: os.arch() === 'arm64' ? 'aarch64' : 'x86_64' });

  let s = await status();
  assert.equal(s.update_state, 'Idle');
  assert.deepEqual(s.most_recent_command, { cmd_type: 'refresh', cmd_status: 'Unknown', timestamp: '1970-01-01T00:00:00Z', exit_status: 0, stderr: '' });
  assert.deepEqual(s.active_partition, { image: { arch: 'x86_64', version: '1.0.0', variant: 'metal' }, next_to_boot: true }, 'slot A runs 1.0.0 and boots next');
  assert.deepEqual(s.staging_partition, { image: null, next_to_boot: false }, 'slot B is empty');

  await post('/actions/refresh-updates');
  s = await status();
  assert.equal(s.update_state, 'Available');
  assert.deepEqual(s.available_updates, ['2.0.0']);
  assert.deepEqual(s.chosen_update, { arch: 'x86_64', version: '2.0.0', variant: 'metal' });
  assert.deepEqual([s.most_recent_command.cmd_type, s.most_recent_command.cmd_status], ['refresh', 'Success']);

  // prepare answers at once (as thar-be-updates forks); while its download is held, the lock is held: 423.
  proxy.shut();
  await post('/actions/prepare-update');
  s = await status();
  assert.deepEqual([s.update_state, s.most_recent_command.cmd_type, s.most_recent_command.cmd_status], ['Available', 'prepare', 'Unknown']);
  for (const uri of ['/actions/refresh-updates', '/actions/activate-update', '/actions/reboot']) {
    const busy = await raw(uri, 'POST');
    assert.equal(busy.code, 1, uri);
    assert.equal(busy.stdout, '');
    assert.equal(busy.stderr, `Failed POST request to '${uri}': Status 423 when POSTing ${uri}: Update lock held\n`);
    assert.equal(busy.stderr.split('Status')[1]!.trim().split(/\s+/)[0], '423', "brupop's reading of it");
  }
  assert.equal((await status()).update_state, 'Available', 'a refused call changes nothing');
  proxy.open();
  await waitFor(async () => (s = await status()).update_state === 'Staged', 60_000, 'the prepare to end at Staged');
  assert.deepEqual([s.most_recent_command.cmd_type, s.most_recent_command.cmd_status, s.most_recent_command.exit_status], ['prepare', 'Success', 0]);
  assert.deepEqual(s.staging_partition, { image: null, next_to_boot: false }, 'prepare writes no slot');
  assert.ok(!(await readFile(marker, 'utf8').then(() => true, () => false)), 'a 423 reboot ran nothing');

  await post('/actions/activate-update');
  await waitFor(async () => (s = await status()).update_state === 'Ready' || s.most_recent_command.cmd_status === 'Failed', 60_000, 'the activate to end');
  assert.equal(s.update_state, 'Ready', s.most_recent_command.stderr);
  assert.deepEqual([s.most_recent_command.cmd_type, s.most_recent_command.cmd_status], ['activate', 'Success']);
  assert.deepEqual(s.staging_partition, { image: { arch: 'x86_64', version: '2.0.0', variant: 'metal' }, next_to_boot: true }, 'slot B holds 2.0.0 and boots next');
  assert.deepEqual(s.active_partition, { image: { arch: 'x86_64', version: '1.0.0', variant: 'metal' }, next_to_boot: false });

  await post('/actions/deactivate-update');
  s = await status();
  assert.deepEqual([s.update_state, s.most_recent_command.cmd_type, s.most_recent_command.cmd_status], ['Staged', 'deactivate', 'Success']);
  assert.equal(s.active_partition?.next_to_boot, true, 'slot A boots next again');
  assert.equal(s.staging_partition?.next_to_boot, false);

  // Wrong state: 409 (deactivate takes Ready). Unknown path: 404. Wrong method: 405.
  const conflict = await raw('/actions/deactivate-update', 'POST');
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /^Failed POST request to '\/actions\/deactivate-update': Status 409 when POSTing \/actions\/deactivate-update: Update action not allowed according to update state: nothing to deactivate: the update state is staged/);
  const missing = await raw('/settings');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^Failed GET request to '\/settings': Status 404 when GETing \/settings: no such path/);
  const wrong = await raw('/actions/refresh-updates');
  assert.match(wrong.stderr, /Status 405 when GETing \/actions\/refresh-updates: GET is not allowed on \/actions\/refresh-updates: use POST/);

  // Activate again, then reboot: 204, berthd's answer on stderr, and updates.reboot-command runs after it.
  await post('/actions/activate-update');
  await waitFor(async () => (await status()).update_state === 'Ready', 60_000, 'Ready again');
  const rebooted = await raw('/actions/reboot', 'POST');
  assert.deepEqual(rebooted, { code: 0, signal: null, stdout: '', stderr: 'rebooting into 2.0.0\n' });
  await waitFor(() => readFile(marker, 'utf8').then((t) => t === 'reboot requested\n', () => false), 10_000, 'updates.reboot-command to run');

  // -s names the socket (as apiclient's); without it and without BERTH_SOCKET the default path is used.
  const viaFlag = await apiclient(['-s', b.socket, 'raw', '-u', '/os']);
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  const elsewhere = await apiclient(['raw', '-u', '/os', '-s', path.join(dir, 'nothing.sock')]);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, /^Failed GET request to '\/os': Status 503 when GETing \/os: cannot reach berthd at .*nothing\.sock/);
});

test('berthd without a boot disk: partitions null; activate fails, recorded for brupop; update check prints the status', async () => {
  const b = await berthd({ rebootCommand: 'exit 7' });
  const env = { BERTH_SOCKET: b.socket };
  const checked = await apiclient(['update', 'check'], env);
  assert.equal(checked.code, 0, checked.stderr);
  const s = JSON.parse(checked.stdout) as Status;
  assert.deepEqual([s.update_state, s.active_partition, s.staging_partition, s.chosen_update?.version], ['Available', null, null, '2.0.0']);
  const applied = await apiclient(['update', 'apply'], env);
  assert.equal(applied.code, 1);
  assert.match(applied.stderr, /^Failed to activate the update: installer \(activate\): no boot disk: /m);
  const after = JSON.parse((await apiclient(['raw', '-u', '/updates/status'], env)).stdout) as Status;
  assert.deepEqual([after.update_state, after.most_recent_command.cmd_type, after.most_recent_command.cmd_status, after.most_recent_command.exit_status], ['Staged', 'activate', 'Failed', 1]);
  assert.match(after.most_recent_command.stderr, /no boot disk/);
  // The answer comes before the command (which usually stops berthd): its failure is berthd's last error.
  const reboot = await apiclient(['raw', '-u', '/actions/reboot', '-m', 'POST'], env);
  assert.deepEqual([reboot.code, reboot.stdout, reboot.stderr], [0, '', 'rebooting (no update is ready)\n']);
  const api = BerthClient.connect({ socketPath: b.socket });
  try {
    await waitFor(async () => (await api.updates.status()).lastError?.operation === 'reboot', 10_000, 'the reboot command\'s failure to be recorded');
    assert.equal((await api.updates.status()).lastError?.message, 'updates.reboot-command (exit 7) failed: exited with 7');
  } finally {
    api.close();
  }
});
