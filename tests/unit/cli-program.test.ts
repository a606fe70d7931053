// berthctl loads only the module of the command it runs (src/cli/program.ts); anything it cannot read plainly
// gets the whole command tree, so help, errors and suggestions do not change.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildProgram, commandName } from '../../src/cli/program.js';

test('the command name behind the global options', () => {
  assert.equal(commandName(['units']), 'units');
  assert.equal(commandName(['--socket', '/x.sock', '-o', 'json', 'status', 'admin']), 'status');
  assert.equal(commandName(['--socket=/x', '--output=json', 'get']), 'get');
  assert.equal(commandName(['--socket', 'units', 'set', 'a=b']), 'set', 'an option value is not the command');
  for (const args of [[], ['--help'], ['-h', 'units'], ['-ojson', 'units'], ['--bogus', 'units'], ['--socket']]) {
    assert.equal(commandName(args), undefined, args.join(' '));
  }
});

test('one module for a known command, the whole tree otherwise', async () => {
  const hooks = { setExitCode: () => undefined };
  const names = async (argv: string[]): Promise<string[]> => (await buildProgram(hooks, ['node', 'berthctl', ...argv])).commands.map((c) => c.name());
  assert.deepEqual(await names(['status', 'admin']), ['units', 'status', 'start', 'restart', 'stop', 'stop-all', 'logs']);
  assert.deepEqual(await names(['set', 'a=b']), ['get', 'set', 'apply', 'keys', 'tx']);
  const all = await names(['--help']);
  for (const n of ['get', 'units', 'exec', 'events', 'images', 'host', 'version', 'validate', 'workloads']) assert.ok(all.includes(n), n);
  assert.deepEqual(await names(['unitz']), all, 'an unknown command gets every command (for suggestions)');
  assert.deepEqual(await names([]), all);
});
