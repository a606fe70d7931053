// berth-apiclient's contract with brupop's agent, checked without a daemon: its command lines, each path and
// method → call → status code and body, the JSON shapes, and the failure line.
//
// The golden documents and the parser below are transcribed from the published types they must satisfy:
// - brupop, agent/src/apiclient.rs (bottlerocket-os/bottlerocket-update-operator, commit 00ab0c76): serde
//   structs UpdateStatus {update_state, available_updates: Vec<semver::Version>, chosen_update:
//   Option<UpdateImage{arch, version, variant}>, active_partition / staging_partition: Option<StagedImage{image:
//   Option<UpdateImage>, next_to_boot: bool}>, most_recent_command: CommandResult{cmd_type (lowercase
//   refresh|prepare|activate), cmd_status (Success|Failed|Unknown), timestamp: String, exit_status: u32,
//   stderr: String}}, OsInfo {version_id: semver::Version}; extract_status_code_from_error splits stderr on
//   "Status" and takes the next word; "423" means the update lock is held.
// - Bottlerocket, sources/updater/thar-be-updates/src/status.rs (the same UpdateStatus, also cmd_type
//   deactivate) and sources/api/apiclient (`Failed {method} request to '{uri}': Status {code} when
//   {method}ing {uri}: {body}`; raw -u/--uri, -m/-X/--method, -d/--data; -s/--socket-path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../src/apiclient/args.js';
import { failureLine, route, type UpdatesBackend } from '../../src/apiclient/routes.js';
import { bottlerocketUpdateStatus } from '../../src/apiclient/shapes.js';
import type { UpdateStatusInfo } from '../../src/wire/updates.js';

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** serde's view of brupop's UpdateStatus: throws where brupop's deserialisation would fail. */
function brupopParse(text: string): { update_state: string; chosen_update: { version: string } | null; most_recent_command: { cmd_type: string; cmd_status: string } } {
  const v = JSON.parse(text) as Record<string, unknown>;
  const need = (o: Record<string, unknown>, k: string): unknown => {
    if (!(k in o)) throw new Error(`missing field \`${k}\``);
    return o[k];
  };
  const str = (x: unknown, what: string): string => {
    if (typeof x !== 'string') throw new Error(`${what}: expected a string`);
    return x;
  };
  const image = (x: unknown, what: string): void => {
    const o = x as Record<string, unknown>;
    str(need(o, 'arch'), `${what}.arch`);
    str(need(o, 'variant'), `${what}.variant`);
    if (!SEMVER.test(str(need(o, 'version'), `${what}.version`))) throw new Error(`${what}.version: not semver`);
  };
  const staged = (x: unknown, what: string): void => {
    if (x === null) return;
    const o = x as Record<string, unknown>;
    const img = need(o, 'image');
    if (img !== null) image(img, `${what}.image`);
    if (typeof need(o, 'next_to_boot') !== 'boolean') throw new Error(`${what}.next_to_boot: expected a bool`);
  };
  if (!['Idle', 'Available', 'Staged', 'Ready'].includes(str(need(v, 'update_state'), 'update_state'))) throw new Error('unknown variant of update_state');
  const avail = need(v, 'available_updates');
  if (!Array.isArray(avail) || !avail.every((x) => typeof x === 'string' && SEMVER.test(x))) throw new Error('available_updates: expected semver strings');
  const chosen = need(v, 'chosen_update');
  if (chosen !== null) image(chosen, 'chosen_update');
  staged(need(v, 'active_partition'), 'active_partition');
  staged(need(v, 'staging_partition'), 'staging_partition');
  const c = need(v, 'most_recent_command') as Record<string, unknown>;
  // brupop's UpdateCommand has refresh, prepare and activate; Bottlerocket's also deactivate.
  if (!['refresh', 'prepare', 'activate', 'deactivate'].includes(str(need(c, 'cmd_type'), 'cmd_type'))) throw new Error('unknown variant of cmd_type');
  if (!['Success', 'Failed', 'Unknown'].includes(str(need(c, 'cmd_status'), 'cmd_status'))) throw new Error('unknown variant of cmd_status');
  str(need(c, 'timestamp'), 'timestamp');
  const exit = need(c, 'exit_status');
  if (typeof exit !== 'number' || !Number.isInteger(exit) || exit < 0) throw new Error('exit_status: expected a u32');
  str(need(c, 'stderr'), 'stderr');
  return v as ReturnType<typeof brupopParse>;
}

/** brupop's extract_status_code_from_error. */
const brupopStatusCode = (stderr: string): string => stderr.split('Status')[1]!.trim().split(/\s+/)[0]!;

const READY: UpdateStatusInfo = {
  state: 'ready', runningVersion: '1.0.0', availableVersions: ['2.0.0', '1.5.0'], chosenVersion: '2.0.0', stagedVersion: '2.0.0',
  chosenUpdate: { arch: 'x86_64', version: '2.0.0', variant: 'metal' },
  activePartition: { slot: 'A', image: { arch: 'x86_64', version: '1.0.0', variant: 'metal' }, nextToBoot: false },
  stagingPartition: { slot: 'B', image: { arch: 'x86_64', version: '2.0.0', variant: 'metal' }, nextToBoot: true },
  mostRecentCommand: { cmdType: 'activate', cmdStatus: 'Success', timestamp: '2026-12-03T07:00:00.000Z', exitStatus: 0, stderr: '' },
  os: { variant: 'metal', arch: 'x86_64', prettyName: 'berth 1.0.0 (metal)', buildId: 'abc123' },
};

// Golden: what Bottlerocket's thar-be-updates writes for a host with an activated update (key order as its struct).
const READY_GOLDEN = '{"update_state":"Ready","available_updates":["2.0.0","1.5.0"],"chosen_update":{"arch":"x86_64","version":"2.0.0","variant":"metal"},'
  + '"active_partition":{"image":{"arch":"x86_64","version":"1.0.0","variant":"metal"},"next_to_boot":false},'
  + '"staging_partition":{"image":{"arch":"x86_64","version":"2.0.0","variant":"metal"},"next_to_boot":true},'
  + '"most_recent_command":{"cmd_type":"activate","cmd_status":"Success","timestamp":"2026-12-03T07:00:00.000Z","exit_status":0,"stderr":""}}';

// Golden: a fresh host with no boot disk (partitions null) before any command (Bottlerocket's new status: a refresh of unknown outcome).
const FRESH_GOLDEN = '{"update_state":"Idle","available_updates":[],"chosen_update":null,"active_partition":null,"staging_partition":null,'
  + '"most_recent_command":{"cmd_type":"refresh","cmd_status":"Unknown","timestamp":"1970-01-01T00:00:00Z","exit_status":0,"stderr":""}}';

class FakeBackend implements UpdatesBackend {
  calls: string[] = [];
  s: UpdateStatusInfo = READY;
  fail: Partial<Record<string, { code: number; message: string; record?: boolean }>> = {};
  private act(name: string, cmdType: string): Promise<UpdateStatusInfo> {
    this.calls.push(name);
    const f = this.fail[name];
    if (!f) return Promise.resolve(this.s);
    if (f.record) this.s = { ...this.s, mostRecentCommand: { cmdType, cmdStatus: 'Failed', timestamp: new Date().toISOString(), exitStatus: 1, stderr: f.message } };
    return Promise.reject(Object.assign(new Error(f.message), { code: f.code }));
  }
  status(): Promise<UpdateStatusInfo> {
    this.calls.push('status');
    return Promise.resolve(this.s);
  }
  check = (): Promise<UpdateStatusInfo> => this.act('check', 'refresh');
  prepare = (): Promise<UpdateStatusInfo> => this.act('prepare', 'prepare');
  activate = (): Promise<UpdateStatusInfo> => this.act('activate', 'activate');
  deactivate = (): Promise<UpdateStatusInfo> => this.act('deactivate', 'deactivate');
  waits: number[] = [];
  reboot = async (o: { waitMs: number }): Promise<{ message: string }> => {
    this.waits.push(o.waitMs);
    await this.act('reboot', 'reboot');
    return { message: 'rebooting into 2.0.0' };
  };
}

test("brupop's command lines parse as apiclient's; bad ones are usage errors naming the flag", () => {
  assert.deepEqual(parseArgs(['raw', '-u', '/actions/refresh-updates', '-m', 'POST']), { verbose: false, command: { kind: 'raw', method: 'POST', uri: '/actions/refresh-updates' } });
  assert.deepEqual(parseArgs(['raw', '-u', '/updates/status']), { verbose: false, command: { kind: 'raw', method: 'GET', uri: '/updates/status' } });
  // Global options anywhere; raw is the default subcommand; -X and --data as apiclient's.
  assert.deepEqual(parseArgs(['-u', '/os', '--socket-path', '/run/x.sock', '-X', 'get', '-d', '{}', '-v']), {
    verbose: true, socketPath: '/run/x.sock', command: { kind: 'raw', method: 'GET', uri: '/os', data: '{}' },
  });
  assert.deepEqual(parseArgs(['update', 'apply', '-c', '--reboot', '-s', '/s']), { verbose: false, socketPath: '/s', command: { kind: 'update-apply', check: true, reboot: true } });
  assert.deepEqual(parseArgs(['update', 'check']).command, { kind: 'update-check' });
  assert.deepEqual(parseArgs(['update', 'cancel']).command, { kind: 'update-cancel' });
  for (const [argv, re] of [
    [['raw'], /^Missing required argument '--uri'$/],
    [['raw', '-u'], /^Did not give argument to -u \| --uri$/],
    [['raw', '-u', '/os', '--bogus'], /^Unknown argument '--bogus'$/],
    [['raw', '-u', 'os'], /^-u \| --uri: expected a path starting with \/, got 'os'$/],
    [['-s'], /^Did not give argument to -s \| --socket-path$/],
    [['--log-level', 'loud', '-u', '/os'], /^Invalid log level 'loud'/],
    [['update'], /^update: missing subcommand/],
    [['update', 'apply', '--now'], /^Unknown argument '--now'/],
    [['set', 'motd=hi'], /^'set' is Bottlerocket's settings API/],
  ] as const) {
    assert.throws(() => parseArgs(argv), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
  }
});

test('GET /updates/status: exactly the golden document, which brupop parses; null partitions without a boot disk', async () => {
  const b = new FakeBackend();
  const res = await route({ method: 'GET', uri: '/updates/status' }, b);
  assert.equal(res.status, 200);
  assert.equal(res.body, READY_GOLDEN);
  assert.equal(brupopParse(res.body).update_state, 'Ready');

  b.s = { state: 'idle', runningVersion: '1.0.0', availableVersions: [] };
  const fresh = await route({ method: 'GET', uri: '/updates/status' }, b);
  assert.equal(fresh.body, FRESH_GOLDEN);
  assert.equal(brupopParse(fresh.body).chosen_update, null);

  // Every state and command maps to a variant brupop knows.
  for (const state of ['idle', 'available', 'staged', 'ready'] as const) {
    for (const cmdType of ['refresh', 'prepare', 'activate', 'deactivate']) {
      for (const cmdStatus of ['Success', 'Failed', 'Unknown']) {
        const doc = JSON.stringify(bottlerocketUpdateStatus({ ...READY, state, mostRecentCommand: { ...READY.mostRecentCommand!, cmdType, cmdStatus } }));
        assert.equal(brupopParse(doc).update_state.toLowerCase(), state);
      }
    }
  }
  // An empty slot (no boot entry) is an image of null, as Bottlerocket's empty partition set.
  b.s = { ...READY, stagingPartition: { slot: 'B', nextToBoot: false } };
  const empty = JSON.parse((await route({ method: 'GET', uri: '/updates/status' }, b)).body) as { staging_partition: unknown };
  assert.deepEqual(empty.staging_partition, { image: null, next_to_boot: false });
});

test('GET /os: version_id is the running version, with Bottlerocket\'s other fields', async () => {
  const res = await route({ method: 'GET', uri: '/os' }, new FakeBackend());
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body), { pretty_name: 'berth 1.0.0 (metal)', variant_id: 'metal', version_id: '1.0.0', build_id: 'abc123', arch: 'x86_64' });
  assert.match((JSON.parse(res.body) as { version_id: string }).version_id, SEMVER);
});

test('actions: POST → the call, 204 and no body; 423 while the lock is held; 409 for the wrong state; 404; 405', async () => {
  const b = new FakeBackend();
  for (const [uri, call] of [
    ['/actions/refresh-updates', 'check'], ['/actions/prepare-update', 'prepare'], ['/actions/activate-update', 'activate'],
    ['/actions/deactivate-update', 'deactivate'], ['/actions/reboot', 'reboot'],
  ] as const) {
    b.calls = [];
    // The reboot's 204 carries berthd's answer beside it (berth-apiclient says it on stderr; stdout stays empty).
    assert.deepEqual(await route({ method: 'POST', uri }, b), { status: 204, body: '', ...(call === 'reboot' ? { note: 'rebooting into 2.0.0' } : {}) }, uri);
    assert.deepEqual(b.calls, [call], uri);
    const wrong = await route({ method: 'GET', uri }, b);
    assert.equal(wrong.status, 405, uri);
    assert.equal(wrong.body, `GET is not allowed on ${uri}: use POST`);
  }
  assert.equal((await route({ method: 'POST', uri: '/updates/status' }, b)).status, 405);
  const nf = await route({ method: 'GET', uri: '/settings' }, b);
  assert.equal(nf.status, 404);
  assert.match(nf.body, /^no such path: \/settings \(berth answers \/os, \/updates\/status, \/actions\/refresh-updates/);

  b.fail = { prepare: { code: 10, message: 'update activate of 2.0.0 is running' } };
  const locked = { method: 'POST', uri: '/actions/prepare-update' };
  const res = await route(locked, b);
  assert.deepEqual(res, { status: 423, body: 'Update lock held' });
  const line = failureLine(locked, res);
  assert.equal(line, "Failed POST request to '/actions/prepare-update': Status 423 when POSTing /actions/prepare-update: Update lock held");
  assert.equal(brupopStatusCode(`${line}\n`), '423', 'brupop reads 423: the update API is busy, retry');

  b.fail = { activate: { code: 9, message: 'nothing to activate: the update state is ready (activate takes a staged update)' } };
  const conflict = await route({ method: 'POST', uri: '/actions/activate-update' }, b);
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body, 'Update action not allowed according to update state: nothing to activate: the update state is ready (activate takes a staged update)');

  // A refresh berthd ran and that failed: 204, the failure in most_recent_command (as thar-be-updates).
  b.fail = { check: { code: 9, message: 'repository unreachable', record: true } };
  assert.equal((await route({ method: 'POST', uri: '/actions/refresh-updates' }, b)).status, 204);
  assert.equal(brupopParse((await route({ method: 'GET', uri: '/updates/status' }, b)).body).most_recent_command.cmd_status, 'Failed');

  b.fail = { reboot: { code: 13, message: 'fleet: the reboot semaphore in etcd is unreadable; fix or delete it by hand' } };
  assert.deepEqual(await route({ method: 'POST', uri: '/actions/reboot' }, b), { status: 500, body: 'fleet: the reboot semaphore in etcd is unreadable; fix or delete it by hand' });
  // No reboot slot within the wait (RESOURCE_EXHAUSTED): 423 as while the update lock is held, so brupop
  // retries later; the body is berthd's refusal, naming who holds the slots. The wait is short and fixed.
  const noSlot = 'no reboot slot is free for this host in fleet group g after waiting 10 s: all 1 reboot slots are held (h2); slots held by: h2 (1.0.0 → 2.0.0 since 2026-12-03T07:00:00.000Z); nothing was taken (this host holds no slot and waits for none)';
  b.fail = { reboot: { code: 8, message: noSlot } };
  b.waits = [];
  const refused = await route({ method: 'POST', uri: '/actions/reboot' }, b);
  assert.deepEqual(refused, { status: 423, body: noSlot });
  assert.deepEqual(b.waits, [10_000]);
  assert.equal(brupopStatusCode(`${failureLine({ method: 'POST', uri: '/actions/reboot' }, refused)}\n`), '423', 'brupop reads 423 and retries');
  b.fail = { check: { code: 14, message: 'cannot reach berthd at /run/berth/api.sock: connect ENOENT' } };
  const down = await route({ method: 'POST', uri: '/actions/refresh-updates' }, b);
  assert.equal(down.status, 503);
  assert.equal(brupopStatusCode(failureLine({ method: 'POST', uri: '/actions/refresh-updates' }, down)), '503', 'brupop finds a status even when berthd is down');
});
