import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('systemd/berthd.service passes systemd-analyze verify with no warnings', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-sd-'));
  try {
    // verify checks that ExecStart is executable: point it at this checkout's launcher.
    const unit = (await readFile(path.join(ROOT, 'systemd/berthd.service'), 'utf8')).replace('ExecStart=/usr/bin/berthd', `ExecStart=${ROOT}/bin/berthd`);
    const file = path.join(dir, 'berthd.service');
    await writeFile(file, unit);
    const { stderr } = await execFileP('systemd-analyze', ['verify', file]);
    assert.equal(stderr.trim(), '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('berthd.service keeps containers alive across berthd restarts and notifies readiness', async () => {
  const unit = await readFile(path.join(ROOT, 'systemd/berthd.service'), 'utf8');
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, /^KillMode=process$/m, 'only berthd is signalled; containerd and shims survive');
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, /^WatchdogSec=\d+s$/m);
  assert.match(unit, /^RuntimeDirectoryPreserve=yes$/m, 'FIFOs of running containers live in /run/berth');
});
