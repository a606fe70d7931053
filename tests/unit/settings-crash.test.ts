// Crash consistency of the settings store, for real: a child process commits numbered transactions and is
// SIGKILLed at a random instant; the store must then load and hold either the last commit the child
// reported or the one that was in flight — never an older value, a torn file or a load error.
//
// Parameters (environment), so a chaos suite can reuse this file with more rounds:
//   BERTH_SETTINGS_CRASH_ROUNDS       rounds (default 50)
//   BERTH_SETTINGS_CRASH_SEED         PRNG seed for kill timing (default: random, printed)
//   BERTH_SETTINGS_CRASH_DEADLINE_MS  overall deadline (default max(60 s, 2 s per round))

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { SettingsStore } from '../../src/settings/index.js';

const ROUNDS = Number(process.env['BERTH_SETTINGS_CRASH_ROUNDS'] ?? 50);
const SEED = Number(process.env['BERTH_SETTINGS_CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const DEADLINE_MS = Number(process.env['BERTH_SETTINGS_CRASH_DEADLINE_MS'] ?? Math.max(60_000, ROUNDS * 2_000));

const CHILD = fileURLToPath(new URL('../support/settings-crash-child.js', import.meta.url));
const DEFAULTS = fileURLToPath(new URL('../../../rootfs/usr/share/berth/settings.toml', import.meta.url));
const KEY = 'host-containers.c.user-data';

/** mulberry32: small seeded PRNG so a failing kill schedule can be replayed with the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RoundOutcome {
  /** Counter the child found when it opened the store, if it got that far. */
  readonly startedAt: number | undefined;
  /** Highest counter the child reported as committed. */
  readonly lastReported: number | undefined;
}

/** Spawns the child, SIGKILLs it (by PID, via ChildProcess.kill) at a random instant, waits for it to close. */
async function runChild(stateDir: string, random: () => number, deadline: number): Promise<RoundOutcome> {
  const child = spawn(process.execPath, [CHILD, stateDir, DEFAULTS, String(Math.max(1_000, deadline - Date.now()))], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    // Half the rounds kill from spawn (startup, load, temp-file cleanup, early commits); the other half
    // wait until the child is committing, to hit the write/fsync/rename window more often.
    if (random() < 0.5) {
      await new Promise((resolve) => setTimeout(resolve, random() * 250));
    } else {
      const ready = new Promise<void>((resolve) => {
        const check = () => {
          if (stdout.includes('ready')) resolve();
        };
        child.stdout.on('data', check);
        child.once('close', () => resolve());
      });
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref());
      await Promise.race([ready, timeout]);
      await new Promise((resolve) => setTimeout(resolve, random() * 40));
    }
    kill();
    const { signal } = await closed;
    assert.equal(signal, 'SIGKILL', `child exited on its own (stderr: ${stderr.trim()})`);
  } finally {
    kill();
  }
  const lines = stdout.split('\n').filter((line) => line !== '');
  const readyLine = lines.find((line) => line.startsWith('ready '));
  const numbers = lines.filter((line) => /^\d+$/.test(line)).map(Number);
  return {
    startedAt: readyLine === undefined ? undefined : Number(readyLine.slice('ready '.length)),
    lastReported: numbers.length > 0 ? numbers[numbers.length - 1] : undefined,
  };
}

async function storedCounter(stateDir: string): Promise<number> {
  const store = await SettingsStore.open({ stateDir, defaultsFile: DEFAULTS });
  const value = store.getFlat()[KEY];
  if (value === undefined) return 0;
  assert.equal(typeof value, 'string');
  const counter = Number(Buffer.from(value as string, 'base64').toString('utf8'));
  assert.ok(Number.isInteger(counter), `stored value ${String(value)} is not a counter`);
  return counter;
}

test(`settings survive SIGKILL at random instants (${ROUNDS} rounds)`, { timeout: DEADLINE_MS + 10_000 }, async (t) => {
  t.diagnostic(`seed ${SEED} (BERTH_SETTINGS_CRASH_SEED to replay)`);
  const random = prng(SEED);
  const deadline = Date.now() + DEADLINE_MS;
  const stateDir = await mkdtemp(join(tmpdir(), 'berth-settings-crash-'));
  try {
    let known = 0; // value the store held before the round
    let killedMidCommit = 0;
    let killedWithTempFile = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      assert.ok(Date.now() < deadline, `deadline passed after ${round - 1} rounds`);
      const outcome = await runChild(stateDir, random, deadline);
      const context = `round ${round}, seed ${SEED}, before ${known}, outcome ${JSON.stringify(outcome)}`;
      if (outcome.startedAt !== undefined) assert.equal(outcome.startedAt, known, `child loaded a different value (${context})`);
      const reported = outcome.lastReported ?? known;
      const before = await readdir(join(stateDir, 'settings')).catch(() => [] as string[]);
      if (before.some((name) => name !== 'settings.json')) killedWithTempFile += 1;
      const stored = await storedCounter(stateDir);
      assert.ok(stored >= reported && stored <= reported + 1, `stored ${stored} (${context})`);
      if (stored === reported + 1) killedMidCommit += 1;
      const leftovers = (await readdir(join(stateDir, 'settings'))).filter((name) => name !== 'settings.json');
      assert.deepEqual(leftovers, [], `temp files survived a load (${context})`);
      known = stored;
    }
    t.diagnostic(
      `final counter ${known}; rounds that left a temp file: ${killedWithTempFile}; ` +
        `rounds whose in-flight commit persisted: ${killedMidCommit}`,
    );
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
});
