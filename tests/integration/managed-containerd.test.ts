import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TestBerthd } from '../support/berthd.js';
import { processAlive } from '../support/wait.js';
import { BerthClient } from '../../src/cli/client.js';

// The embedded default: berthd with its own containerd and the shipped units and built-in images.
test('--managed-containerd: control runs; a killed containerd is restarted without touching containers; a new berthd re-uses it', { timeout: 180_000 }, async () => {
  const b = await TestBerthd.create({ shippedUnits: true });
  // --config FILE carries options too (flags still win).
  const config = path.join(b.dir, 'berthd.toml');
  await writeFile(config, 'log-level = "debug"\nnamespace = "berth"\n');
  b.opts.extraArgs = ['--config', config];
  let client = BerthClient.connect({ socketPath: b.socket });
  try {
    await b.start(120_000);
    const control = await client.units.get('control');
    assert.equal(control.state, 'running');
    const containerdPid = b.managedContainerdPid()!;
    assert.ok(containerdPid && processAlive(containerdPid));

    // containerd dies: berthd starts a new one; the control container keeps running with the same PID.
    const ac = new AbortController();
    const reconnected = (async () => {
      for await (const ev of client.events.watch({ signal: ac.signal })) if (ev.kind === 'daemon' && /connected/.test(ev.message)) return true;
      return false;
    })();
    process.kill(containerdPid, 'SIGKILL');
    assert.equal(await reconnected, true);
    ac.abort();
    const newPid = b.managedContainerdPid()!;
    assert.notEqual(newPid, containerdPid);
    assert.ok(processAlive(newPid));
    const after = await client.units.get('control');
    assert.equal(after.state, 'running');
    assert.equal(after.pid, control.pid);
    assert.ok(processAlive(control.pid));

    // berthd dies: the next one adopts the running containerd and the control container.
    await b.kill();
    assert.ok(processAlive(newPid), 'containerd outlives berthd');
    await b.start(60_000);
    client.close();
    client = BerthClient.connect({ socketPath: b.socket });
    assert.equal(b.managedContainerdPid(), newPid);
    const adopted = await client.units.get('control');
    assert.equal(adopted.pid, control.pid);
    assert.equal(adopted.restarts, 0);
    assert.match(b.log(), /using the managed containerd that is already running/);
  } finally {
    client.close();
    await b.stop();
  }
});
