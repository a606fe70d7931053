// Host/ProcessStats: berthd's own memory, fds and event-loop delay, through the real gRPC server (in this
// process, with the API fakes behind it) and the client berthctl and the soak benchmark use.
import assert from 'node:assert/strict';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { LoopDelayWindow } from '../../src/api/process-stats.js';
import { BerthClient } from '../../src/cli/client.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost } from '../support/api-fakes.js';

let dir: string;
let server: ApiServer;
let client: BerthClient;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-pstats-'));
  server = await startApiServer({
    socketPath: join(dir, 'run', 'api.sock'),
    supervisor: new FakeSupervisor(), settings: new FakeSettings(), images: new FakeImages(), host: fakeHost(),
  });
  client = BerthClient.connect({ socketPath: server.socketPath });
});

after(async () => {
  client?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Hold the event loop for `ms` (the server runs in this process, so this is the daemon's loop stalling). */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

/** One turn of the timers phase, so the delay monitor's own timer has fired and recorded the stall. */
const timersTurn = (): Promise<void> => new Promise((r) => setTimeout(r, 15));

test('the first call reports memory and fds and starts the loop monitor (window 0)', async () => {
  const s = await client.host.processStats();
  const m = process.memoryUsage();
  // Same process: the figures are this process's, within what a few calls allocate.
  assert.ok(s.rssBytes > 10 * 2 ** 20 && Math.abs(s.rssBytes - m.rss) < 64 * 2 ** 20, `rss ${s.rssBytes} vs ${m.rss}`);
  assert.ok(s.heapUsedBytes > 0 && s.heapUsedBytes <= s.heapTotalBytes, JSON.stringify(s));
  assert.ok(s.externalBytes > 0, JSON.stringify(s));
  assert.ok(s.openFds > 3, `fds ${s.openFds}`);
  assert.deepEqual(s.loopDelay, { p50Ms: 0, p99Ms: 0, maxMs: 0, windowMs: 0, p99SinceStartMs: 0 });
});

test('open fds are counted: five more files open, five more fds', async () => {
  const before = (await client.host.processStats()).openFds;
  const fds = Array.from({ length: 5 }, () => openSync('/dev/null', 'r'));
  try {
    const during = (await client.host.processStats()).openFds;
    assert.ok(during - before >= 5 && during - before <= 7, `before ${before}, with 5 more open ${during}`);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
});

test('a stall of the loop shows in the next window only: the window resets on each call', async () => {
  await client.host.processStats(); // window starts here
  block(150);
  await timersTurn();
  const stalled = await client.host.processStats();
  assert.ok(stalled.loopDelay.windowMs >= 150, JSON.stringify(stalled.loopDelay));
  assert.ok(stalled.loopDelay.maxMs >= 140, `max ${stalled.loopDelay.maxMs} ms after a 150 ms stall`);
  assert.ok(stalled.loopDelay.p99Ms >= stalled.loopDelay.p50Ms, JSON.stringify(stalled.loopDelay));
  await timersTurn();
  const next = await client.host.processStats();
  assert.ok(next.loopDelay.windowMs > 0, JSON.stringify(next.loopDelay));
  assert.ok(next.loopDelay.maxMs < 140, `the stall leaked into the next window: ${JSON.stringify(next.loopDelay)}`);
});

test('the figure since the start keeps every window: a stall stays in it after its window is read', async () => {
  const w = new LoopDelayWindow();
  try {
    w.take();
    block(150);
    await timersTurn();
    assert.ok(w.take().maxMs >= 140);
    await timersTurn();
    const later = w.take();
    assert.ok(later.maxMs < 140, JSON.stringify(later));
    // A handful of ticks in all, one of them 140 ms late: that is the p99.
    assert.ok(later.p99SinceStartMs >= 140, JSON.stringify(later));
  } finally {
    w.stop();
  }
});

test('delay is how late the 10 ms tick fires: an idle loop reads near 0, not 10 ms', async () => {
  await client.host.processStats();
  await new Promise((r) => setTimeout(r, 200)); // time for ~20 ticks of an idle loop
  const idle = await client.host.processStats();
  assert.ok(idle.loopDelay.p50Ms < 8, `an idle loop's median delay: ${JSON.stringify(idle.loopDelay)}`);
});

test('the monitor stops when nobody asks for a while, and restarts (window 0) on the next call', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const w = new LoopDelayWindow(60_000);
  try {
    assert.equal(w.running, false, 'not before the first call: an idle daemon does not pay for it');
    assert.equal(w.take().windowMs, 0, 'the first call starts it');
    assert.equal(w.running, true);
    t.mock.timers.tick(59_999);
    w.take(); // asked again in time: the idle period starts over
    t.mock.timers.tick(59_999);
    assert.equal(w.running, true, 'a call within the idle period keeps it on');
    t.mock.timers.tick(1);
    assert.equal(w.running, false, 'idle for the whole period: stopped');
    assert.equal(w.take().windowMs, 0, 'restarted by the next call, with a fresh window');
    assert.equal(w.running, true);
  } finally {
    w.stop();
  }
  assert.equal(w.running, false);
});
