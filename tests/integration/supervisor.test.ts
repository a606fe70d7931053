import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { busyboxArchive } from '../support/images.js';
import { hostUnit, bootstrapUnit, waitUnit, IDLE } from '../support/units.js';
import { processAlive } from '../support/wait.js';
import { importArchive } from '../../src/images/import.js';
import { BerthClient } from '../../src/cli/client.js';
import type { ContainerdClient } from '../../src/containerd/client.js';

const NS = 'berth';
let ctd: TestContainerd;
let cc: ContainerdClient;

before(async () => {
  ctd = await TestContainerd.start();
  cc = ctd.client(NS);
  await importArchive(cc, await busyboxArchive(), { namespace: NS });
});
after(async () => {
  cc?.close();
  await ctd?.stop();
});

async function containerIds(): Promise<string[]> {
  return (await cc.listContainers([], { namespace: NS })).map((c) => c.id).sort();
}
async function taskPids(): Promise<Record<string, number>> {
  return Object.fromEntries((await cc.listTasks({ namespace: NS })).filter((t) => t.status === 'RUNNING').map((t) => [t.id, t.pid]));
}

async function withBerthd(units: Record<string, string>, fn: (b: TestBerthd, client: BerthClient) => Promise<void>): Promise<void> {
  const b = await TestBerthd.create({ containerd: ctd, units });
  const client = BerthClient.connect({ socketPath: b.socket });
  try {
    await b.start();
    await fn(b, client);
  } finally {
    client.close();
    await b.stop();
    for (const id of await containerIds()) await import('../../src/containerd/lifecycle.js').then(({ ContainerLifecycle }) => new ContainerLifecycle(cc, NS).remove(id));
  }
}

test('restart policies: backoff grows, never is not restarted, stopped stays stopped, crash loops do not delay healthy units', async () => {
  const units: Record<string, string> = {
    crasher: hostUnit('crasher', 'echo crashing; exit 3', '[restart]\npolicy = "always"'),
    once: hostUnit('once', 'exit 4', '[restart]\npolicy = "never"'),
    onfail: hostUnit('onfail', 'exit 0', '[restart]\npolicy = "on-failure"'),
  };
  for (let i = 0; i < 10; i++) units[`healthy${i}`] = hostUnit(`healthy${i}`, IDLE);
  await withBerthd(units, async (b, client) => {
    // READY came after the first reconcile: all 10 healthy units are running already, despite the crasher.
    const list = await client.units.list();
    for (let i = 0; i < 10; i++) assert.equal(list.find((u) => u.name === `healthy${i}`)?.state, 'running', `healthy${i}`);

    const crasher = await waitUnit(client, 'crasher', (u) => u.restarts >= 2 && u.state === 'backing-off', 20_000, 'two restarts');
    const delays = crasher.events.filter((e) => e.state === 'backing-off').map((e) => Number(/restarting in ([\d.]+) s/.exec(e.message)?.[1]));
    assert.ok(delays.length >= 3, JSON.stringify(crasher.events));
    assert.ok(delays[0]! >= 0.8 && delays[0]! <= 1.2, `first delay ~1 s: ${delays}`);
    assert.ok(delays[1]! >= 1.6 && delays[1]! <= 2.4, `second delay ~2 s: ${delays}`);
    assert.ok(delays[2]! > delays[1]!, `delays grow: ${delays}`);
    assert.equal(crasher.exitCode, 3);

    const once = await waitUnit(client, 'once', (u) => u.state === 'failed', 10_000, 'never → failed');
    assert.equal(once.restarts, 0);
    assert.equal(once.exitCode, 4);
    const onfail = await waitUnit(client, 'onfail', (u) => u.state === 'exited', 10_000, 'on-failure exit 0 → exited');
    assert.equal(onfail.restarts, 0);

    // A unit stopped by the user stays stopped, even one whose policy is "always".
    await client.units.stop('crasher');
    const stopped = await client.units.get('crasher');
    assert.equal(stopped.state, 'stopped');
    const before = stopped.restarts;
    await client.units.stop('healthy0');
    assert.equal((await client.units.get('healthy0')).state, 'stopped');
    assert.ok(!(await containerIds()).includes('healthy0'), 'stopped unit container removed');
    // Another unit's life (a restart) passes, and the stopped ones are still stopped.
    await client.units.restart('healthy1');
    await waitUnit(client, 'healthy1', (u) => u.state === 'running', 10_000);
    assert.equal((await client.units.get('crasher')).state, 'stopped');
    assert.equal((await client.units.get('crasher')).restarts, before);
    assert.equal((await client.units.get('healthy0')).state, 'stopped');
    await client.units.start('healthy0');
    assert.equal((await client.units.get('healthy0')).state, 'running');
    void b;
  });
});

test('berthd SIGKILLed: restarted, it adopts every task (same PIDs, no restart, no duplicates) and replaces a changed one', async () => {
  const units = { a: hostUnit('a', IDLE), b: hostUnit('b', IDLE), c: hostUnit('c', IDLE) };
  await withBerthd(units, async (b, client) => {
    const pids = await taskPids();
    assert.deepEqual(Object.keys(pids).sort(), ['a', 'b', 'c']);
    await b.kill();
    // While berthd is down: change c's spec, and leave an orphan that no unit claims.
    await b.writeUnit('c', hostUnit('c', `echo v2; ${IDLE}`));
    await ctd.client(NS).createContainer({ id: 'orphan', labels: { 'berth.unit': 'orphan' }, runtime: { name: 'io.containerd.runc.v2', options: null }, spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{}') } });
    await b.start();
    const after = await taskPids();
    assert.equal(after.a, pids.a, 'a kept its pid');
    assert.equal(after.b, pids.b, 'b kept its pid');
    assert.notEqual(after.c, pids.c, 'c was replaced');
    assert.ok(processAlive(after.a!) && processAlive(after.b!));
    assert.deepEqual(await containerIds(), ['a', 'b', 'c'], 'no duplicates, no orphan');
    const a = await client.units.get('a');
    assert.equal(a.restarts, 0);
    assert.equal(a.state, 'running');
    assert.ok(a.events.some((e) => /adopted/.test(e.message)));
  });
});

test('containerd killed and restarted: host containers keep PIDs, berthd reconverges, a unit that died meanwhile is restarted', async () => {
  const units = { keep: hostUnit('keep', IDLE), dies: hostUnit('dies', IDLE) };
  await withBerthd(units, async (b, client) => {
    for (const name of ['keep', 'dies']) await waitUnit(client, name, (u) => u.state === 'running' && u.pid > 0, 10_000);
    const pids = await taskPids();
    assert.equal((await client.units.get('dies')).pid, pids.dies);
    await ctd.kill();
    process.kill(pids.dies!, 'SIGKILL'); // dies while containerd is down
    await ctd.launch();
    const dies = await waitUnit(client, 'dies', (u) => u.state === 'running' && u.pid > 0 && u.pid !== pids.dies, 20_000, 'restarted after the outage');
    assert.ok(dies.restarts >= 1, JSON.stringify(dies.events));
    const keep = await client.units.get('keep');
    assert.equal(keep.state, 'running');
    assert.equal(keep.pid, pids.keep);
    assert.equal((await taskPids()).keep, pids.keep);
    const status = await client.host.version().catch(() => undefined);
    assert.ok(status);
    void b;
  });
});

test('bootstrap: defined order, once not re-run after restart, dependencies and health checks gate start', async () => {
  const units = {
    'b-second': bootstrapUnit('b-second', 'echo second', { order: 2 }),
    'b-first': bootstrapUnit('b-first', 'echo first; sleep 0.3', { order: 1 }),
    'b-always': bootstrapUnit('b-always', 'echo always', { mode: 'always', order: 3 }),
    db: hostUnit('db', `sleep 1; touch /tmp/ready; ${IDLE}`, '[[mounts]]\ntype = "tmpfs"\ndestination = "/tmp"\n[health]\ncommand = ["/bin/test", "-f", "/tmp/ready"]\ninterval = "300ms"\ntimeout = "250ms"\nstart-period = "5s"\nretries = 1'),
    app: hostUnit('app', IDLE, 'depends-on = ["db"]'),
  };
  await withBerthd(units, async (b, client) => {
    const list = await client.units.list();
    const first = list.find((u) => u.name === 'b-first')!;
    const second = list.find((u) => u.name === 'b-second')!;
    assert.equal(first.state, 'exited');
    assert.equal(second.state, 'exited');
    const doneAt = (u: typeof first): string => u.events.find((e) => e.state === 'exited')!.at;
    const startAt = (u: typeof first): string => u.events.find((e) => e.state === 'preparing')!.at;
    assert.ok(doneAt(first) <= startAt(second), 'b-first completed before b-second started');

    const app0 = await client.units.get('app');
    const db = await waitUnit(client, 'db', (u) => u.health === 'healthy', 15_000, 'healthy');
    const app = await waitUnit(client, 'app', (u) => u.state === 'running', 15_000, 'app started after db healthy');
    assert.ok(app0.state === 'waiting' || app0.state === 'running', JSON.stringify(app0));
    const appStart = app.events.find((e) => e.state === 'running')!.at;
    const dbHealthy = db.events.find((e) => e.message === 'health: healthy')!.at;
    assert.ok(appStart >= dbHealthy, `app started ${appStart} after db healthy ${dbHealthy}`);
    assert.ok(app.events.some((e) => e.state === 'waiting' && /db/.test(e.message)), 'app waited for db');

    // Restart berthd: the `once` units are not run again.
    await b.kill();
    await b.start();
    const again = await client.units.get('b-first');
    assert.ok(again.events.every((e) => e.state !== 'preparing'), 'b-first did not run again');
    assert.match(again.events.at(-1)!.message, /already ran/);
  });
});

test('an essential bootstrap failure blocks host units and is reported; a non-essential one is skipped', async () => {
  await withBerthd({ optional: bootstrapUnit('optional', 'exit 1', { order: 1 }), host: hostUnit('host', IDLE) }, async (_b, client) => {
    assert.equal((await client.units.get('optional')).state, 'failed');
    assert.equal((await client.units.get('host')).state, 'running');
  });
  await withBerthd({ vital: bootstrapUnit('vital', 'echo broken >&2; exit 5', { essential: true }), host: hostUnit('host', IDLE) }, async (b, client) => {
    const vital = await client.units.get('vital');
    assert.equal(vital.state, 'failed');
    const host = await client.units.get('host');
    assert.notEqual(host.state, 'running');
    assert.deepEqual(await taskPids(), {});
    const ready = await b.notify!.waitFor((m) => m.includes('READY=1'), 1000, 'ready');
    assert.match(ready, /STATUS=essential bootstrap unit vital failed: exited with status 5/);
  });
});

test('sd_notify: READY=1 only after the first reconcile settled; STATUS and STOPPING sent; SIGTERM leaves units running', async () => {
  await withBerthd({ slow: bootstrapUnit('slow', 'sleep 1; echo done'), svc: hostUnit('svc', IDLE) }, async (b, client) => {
    const ready = b.notify!.messages.find((m) => m.includes('READY=1'))!;
    assert.match(ready, /STATUS=\d+ running/);
    const slow = await client.units.get('slow');
    const svc = await client.units.get('svc');
    assert.equal(slow.state, 'exited');
    assert.equal(svc.state, 'running');
    const pids = await taskPids();
    const code = await b.signal('SIGTERM');
    assert.equal(code, 0);
    assert.ok(b.notify!.messages.some((m) => m.includes('STOPPING=1')));
    assert.deepEqual(await taskPids(), pids, 'units still running after berthd exited');
  });
});

test('logs survive a berthd restart and keep the lines written while it was down', async () => {
  const script = 'i=0; trap "exit 0" TERM; while :; do i=$((i+1)); echo "line $i"; sleep 0.1 & wait $!; done';
  await withBerthd({ talker: hostUnit('talker', script) }, async (b, client) => {
    const lines = async (): Promise<number[]> => {
      const out: number[] = [];
      for await (const l of client.units.logs('talker', {})) out.push(Number(l.line.split(' ')[1]));
      return out;
    };
    await waitUnit(client, 'talker', (u) => u.state === 'running', 5000);
    await b.kill();
    const killedAt = Date.now();
    // Down for a moment: the container keeps writing into its FIFO meanwhile.
    await new Promise((r) => setTimeout(r, 1500));
    await b.start();
    const follow = new AbortController();
    let reached = 0;
    for await (const l of client.units.logs('talker', { follow: true, signal: follow.signal })) {
      reached = Number(l.line.split(' ')[1]);
      if (reached >= 30) follow.abort();
    }
    const got = await lines();
    const max = Math.max(...got);
    for (let i = 1; i <= max; i++) assert.ok(got.includes(i), `line ${i} missing (berthd was down for ${Date.now() - killedAt} ms)`);
    const stamps: string[] = [];
    for await (const l of client.units.logs('talker', { tail: 3 })) stamps.push(l.at);
    assert.equal(stamps.length, 3);
    assert.ok(stamps.every((s) => !Number.isNaN(Date.parse(s))));
  });
});
