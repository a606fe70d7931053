// Every berthctl command, with one bad value, is a usage error: a message naming the flag or argument on
// stderr and exit 2, found before any connection (the socket does not exist, so a command that tried to
// connect would fail with exit 1 instead). The command tree is walked from the real program, so a new
// command without a case here fails the test until one is added. Also: sizes as Docker writes them.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { runRequest } from '../../src/cli/commands/workloads-args.js';
import { parseSize } from '../../src/units/quantities.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import type { WorkloadsApi } from '../../src/api/workloads-service.js';
import type { WorkloadInfo, WorkloadRequest } from '../../src/wire/index.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost } from '../support/api-fakes.js';
import { runCli } from '../support/cli.js';


interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let missingSocket: string;

function berthctl(args: string[], socket = missingSocket): Promise<Result> {
  return runCli(['--socket', socket, ...args]);
}

/** Leaf commands (the ones that run an action), as their words after `berthctl`. */
function leafCommands(cmd: Command, prefix: string[] = []): string[][] {
  if (cmd.commands.length === 0) return [prefix];
  return cmd.commands.flatMap((c) => leafCommands(c, [...prefix, c.name()]));
}

/** One bad invocation per command (after the command words) and what its message must name. */
const BAD: Record<string, { args: string[]; names: string }> = {
  get: { args: ['host containers'], names: "'prefix'" },
  set: { args: ['--tx', 'no spaces allowed', 'a=b'], names: '--tx' },
  apply: { args: [''], names: "'file'" },
  keys: { args: ['--output', 'xml'], names: '--output' },
  'tx pending': { args: ['a/b'], names: "'name'" },
  'tx commit': { args: ['a b'], names: "'name'" },
  'tx discard': { args: [''], names: "'name'" },
  units: { args: ['-o', 'yaml'], names: '--output' },
  status: { args: ['admin', '--events', 'lots'], names: '--events' },
  start: { args: ['../etc'], names: "'name'" },
  stop: { args: ['under_score'], names: "'name'" },
  restart: { args: ['a b'], names: "'name'" },
  'stop-all': { args: ['--output', 'xml', '--yes'], names: '--output' },
  logs: { args: ['admin', '--tail', '-3'], names: '--tail' },
  exec: { args: ['admin', '--env', 'NOEQUALS', '--', 'true'], names: '--env' },
  events: { args: ['--output', 'csv'], names: '--output' },
  'images import': { args: ['app.tar', '--ref', 'Bad Ref'], names: '--ref' },
  'images pull': { args: ['team//app:1'], names: "'ref'" },
  'images ls': { args: ['-o', 'xml'], names: '--output' },
  'images rm': { args: ['two words'], names: "'ref'" },
  'images prune': { args: ['-o', 'xml'], names: '--output' },
  host: { args: ['-o', 'xml'], names: '--output' },
  version: { args: ['-o', 'xml'], names: '--output' },
  validate: { args: ['--defaults', '/nonexistent/defaults.toml', 'x.toml'], names: '--defaults' },
  'workloads run': { args: ['web', '--image', 'localhost/app:1', '--memory', '64q', '--', 'sleep', '1'], names: '--memory' },
  'workloads ls': { args: ['-o', 'xml'], names: '--output' },
  'workloads status': { args: ['web_1'], names: "'name'" },
  'rollout history': { args: ['../x'], names: "'name'" },
  'workloads start': { args: ['a b'], names: "'name'" },
  'workloads stop': { args: ['../x'], names: "'name'" },
  'workloads rm': { args: [''], names: "'name'" },
  'workloads logs': { args: ['web', '--tail', 'abc'], names: '--tail' },
  'fleet status': { args: ['--group', 'a/b'], names: '--group' },
  'fleet update': { args: ['--version', '2.0', '--max-concurrent', '2'], names: '--version' },
  'fleet hold': { args: ['--group', ''], names: '--group' },
  'fleet resume': { args: ['--group', '../g'], names: '--group' },
  'update check': { args: ['-o', 'xml'], names: '--output' },
  'update apply': { args: ['--reboot', '--reboot-wait', '2h'], names: '--reboot-wait' },
  'update cancel': { args: ['-o', 'csv'], names: '--output' },
  'update status': { args: ['-o', 'xml'], names: '--output' },
  'update rollback': { args: ['-o', 'xml'], names: '--output' },
  'update reboot': { args: ['--wait', 'soon'], names: '--wait' },
  'update boot-check': { args: ['--timeout', 'soon'], names: '--timeout' },
};

/** Flag values commands share: each must be a usage error too, wherever it is checked. */
const MORE_BAD: { args: string[]; names: string }[] = [
  { args: ['workloads', 'run', 'web', '--image', 'localhost/app:1', '--cpus', 'abc'], names: '--cpus' },
  { args: ['workloads', 'run', 'web', '--image', 'localhost/app:1', '--pids', '1.5'], names: '--pids' },
  { args: ['workloads', 'run', 'web', '--image', 'localhost/app:1', '--restart', 'sometimes'], names: '--restart' },
  { args: ['workloads', 'run', 'web', '--image', 'localhost/app:1', '--mount', '/a'], names: '--mount' },
  { args: ['workloads', 'run', 'web', '--image', 'localhost/app:1', '--network', 'bridge'], names: '--network' },
  { args: ['workloads', 'run', 'web', '--image', 'localhost/app:1', '--env', 'NOEQUALS'], names: '--env' },
  { args: ['workloads', 'run', 'web', '--image', 'Not A Ref'], names: '--image' },
  { args: ['set', 'novalue'], names: '"novalue"' },
  { args: ['exec', 'admin'], names: "'command'" },
  // The reboot's wait: berthd answers within the hour at most, so longer is refused before any call.
  { args: ['update', 'reboot', '--wait', '61m'], names: '--wait' },
  { args: ['update', 'apply', '--reboot-wait', '-1s'], names: '--reboot-wait' },
];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-cli-usage-'));
  missingSocket = join(dir, 'absent', 'api.sock');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// The whole tree (no argv: every command module is loaded).
const leaves = leafCommands(await buildProgram({ setExitCode: () => undefined }));

describe('every command reports a bad value as a usage error naming it', () => {

  test('the command tree is walked (and each leaf has a case)', () => {
    assert.ok(leaves.length >= 25, `found ${leaves.length} commands`);
    const missing = leaves.map((l) => l.join(' ')).filter((l) => !(l in BAD));
    assert.deepEqual(missing, [], `add a bad-value case to BAD for: ${missing.join(', ')}`);
  });

  for (const words of leaves) {
    const name = words.join(' ');
    test(`berthctl ${name}`, async () => {
      const bad = BAD[name];
      assert.ok(bad, `no bad-value case for "berthctl ${name}"`);
      const r = await berthctl([...words, ...bad.args]);
      assert.equal(r.code, 2, `exit code of berthctl ${[...words, ...bad.args].join(' ')}; stderr: ${r.stderr}`);
      assert.ok(r.stderr.includes(bad.names), `stderr names ${bad.names}: ${JSON.stringify(r.stderr)}`);
      assert.doesNotMatch(r.stderr, /cannot reach berthd/);
    });
  }

  for (const bad of MORE_BAD) {
    test(`berthctl ${bad.args.join(' ')}`, async () => {
      const r = await berthctl(bad.args);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(bad.names), `stderr names ${bad.names}: ${JSON.stringify(r.stderr)}`);
    });
  }

  test('an error thrown from a command action is printed, not swallowed', async () => {
    // commander prints its own parse errors; before the fix one thrown from an action was lost (exit 2, silence).
    const r = await berthctl(['workloads', 'run', 'w', '--image', 'x', '--cpus', 'many', '--', 'sleep', '1']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'berthctl: --cpus many: expected a number\n');
  });
});

describe('sizes as Docker writes them', () => {
  test('parseSize: Docker suffixes are binary, in either case', () => {
    const MiB = 1024 ** 2;
    for (const [text, bytes] of [
      ['64m', 64 * MiB], ['64M', 64 * MiB], ['64Mi', 64 * MiB], ['1g', 1024 ** 3], ['1G', 1024 ** 3], ['1Gi', 1024 ** 3],
      ['512k', 512 * 1024], ['512K', 512 * 1024], ['512Ki', 512 * 1024], ['100b', 100], ['100B', 100], ['4096', 4096],
      ['2t', 2 * 1024 ** 4], ['2Ti', 2 * 1024 ** 4],
    ] as const) {
      assert.deepEqual(parseSize(text), { ok: true, value: bytes }, text);
    }
    for (const text of ['64q', '64mi', '64MB', '-1m', '1.5g', '', 'm', '64 m']) {
      const r = parseSize(text);
      assert.equal(r.ok, false, text);
    }
  });

  test('--memory 64m and --memory 64Mi give the same request', () => {
    const a = runRequest('w', ['sleep', '1'], { image: 'localhost/app:1', memory: '64m' });
    const b = runRequest('w', ['sleep', '1'], { image: 'localhost/app:1', memory: '64Mi' });
    assert.equal(a.memoryBytes, 64 * 1024 ** 2);
    assert.deepEqual(a, b);
  });

  test('berthctl sends the same memoryBytes for 64m, 64M and 64Mi', async () => {
    const received: WorkloadRequest[] = [];
    const workloads: WorkloadsApi = {
      run: (request) => {
        received.push(request);
        const info: WorkloadInfo = {
          request, mcs: 's0:c1,c2', runtime: 'containerd',
          status: { name: request.name, class: 'workload', state: 'running', desired: 'running', image: request.image, superpowered: false, containerId: request.name, namespace: 'berth-workloads', pid: 1, restarts: 0, health: 'none', events: [] },
        };
        return Promise.resolve(info);
      },
      list: () => [], get: () => { throw new Error('unused'); }, startWorkload: () => Promise.reject(new Error('unused')), stopAll: () => Promise.resolve(),
      stop: () => Promise.reject(new Error('unused')), remove: () => Promise.resolve(), logs: () => (async function* () {})(),
    };
    const server: ApiServer = await startApiServer({
      socketPath: join(dir, 'api.sock'), supervisor: new FakeSupervisor(), settings: new FakeSettings(), images: new FakeImages(), host: fakeHost(), workloads,
    });
    try {
      for (const memory of ['64m', '64M', '64Mi']) {
        const r = await berthctl(['workloads', 'run', `w${received.length}`, '--image', 'localhost/app:1', '--memory', memory, '--', 'sleep', '1'], server.socketPath);
        assert.equal(r.code, 0, r.stderr);
      }
    } finally {
      await server.close();
    }
    assert.deepEqual(received.map((r) => r.memoryBytes), [64 * 1024 ** 2, 64 * 1024 ** 2, 64 * 1024 ** 2]);
  });
});
