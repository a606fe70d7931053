// Disk full: berthd's state dir on a 2 MiB tmpfs (mounted here, unmounted at the end), filled to the last
// byte by a filler file. Supervision must go on (a crash-looping unit still restarts), unit logs stop
// growing without tearing, the settings store refuses commits cleanly (error, nothing changed in memory
// or on disk, no temp files), and everything works again once the filler is removed.
import { spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { hostUnit, waitUnit } from '../../tests/support/units.js';
import { waitFor } from '../../tests/support/wait.js';
import type { BerthClient } from '../../src/cli/client.js';
import type { TestBerthd } from '../../tests/support/berthd.js';
import { client, dropBerthd, newBerthd, type ChaosEnv } from './env.js';
import { now, Tally, type Row } from './lib.js';

function run(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve) => spawn(cmd, args, { stdio: 'ignore' }).once('exit', resolve));
}

/** Writes zeros until the filesystem says ENOSPC (bounded: at most 4 MiB on a 2 MiB tmpfs). */
async function fill(file: string): Promise<void> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (let i = 0; i < 1024; i++) await fh.write(chunk);
    throw new Error('the tmpfs did not fill up');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

const size = (f: string): Promise<number> => stat(f).then((s) => s.size, () => 0);

export async function diskFull(env: ChaosEnv): Promise<Row[]> {
  const CYCLES = env.mode === 'full' ? 3 : 1;
  const t = new Tally('Disk full: 2 MiB tmpfs state dir');
  let b: TestBerthd | undefined;
  let c: BerthClient | undefined;
  let mounted = false;
  try {
    b = await newBerthd(env, { units: { crasher: hostUnit('crasher', 'echo "crash line from the crasher"; exit 1', '[restart]\npolicy = "always"') } });
    await mkdir(b.stateDir, { recursive: true });
    if ((await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', b.stateDir])) !== 0) throw new Error('mount -t tmpfs failed');
    mounted = true;
    await b.start(120_000);
    const cl = (c = client(b));
    const logFile = path.join(b.stateDir, 'logs', 'crasher.log');
    const settingsFile = path.join(b.stateDir, 'settings', 'settings.json');
    const filler = path.join(b.stateDir, 'filler');
    const pid = b.pid;
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await t.run(`cycle ${cycle}`, async () => {
        const problems: string[] = [];
        // Reset the backoff (test setup) so each cycle sees restarts after 1 s and 2 s, not minutes.
        await cl.units.restart('crasher', { timeoutMs: 30_000 });
        await waitFor(async () => (await size(logFile)) > 0, 30_000, 'crasher log line');
        await cl.settings.set({ 'images.pull-policy': 'always' });
        await fill(filler);
        const logAtFull = await size(logFile);
        const r0 = (await cl.units.get('crasher')).restarts;
        // Supervision goes on: two more restarts with nowhere to write their output.
        await waitUnit(cl, 'crasher', (u) => u.restarts >= r0 + 2, 60_000, 'two restarts on a full disk').catch((e: Error) => problems.push(e.message));
        if ((await size(logFile)) > logAtFull) problems.push('log grew on a full disk');
        const settingsBefore = JSON.stringify(await cl.settings.get());
        const fileBefore = await readFile(settingsFile, 'utf8');
        const refused = await cl.settings.set({ 'images.pull-policy': 'if-not-present' }).then(() => undefined, (e: Error) => e);
        if (!refused) problems.push('a settings commit succeeded on a full disk');
        else if (!/ENOSPC|no space/i.test(refused.message)) problems.push(`refusal does not say why: ${refused.message}`);
        if (JSON.stringify(await cl.settings.get()) !== settingsBefore) problems.push('settings changed in memory after a refused commit');
        if ((await readFile(settingsFile, 'utf8')) !== fileBefore) problems.push('settings file changed after a refused commit');
        const stray = (await readdir(path.dirname(settingsFile))).filter((f) => f !== 'settings.json');
        if (stray.length) problems.push(`temp files left: ${stray.join(',')}`);
        // Space returns: commits work and log lines are written again.
        await rm(filler, { force: true });
        const t0 = now();
        await waitFor(async () => cl.settings.set({ 'images.pull-policy': 'if-not-present' }).then(() => true, () => false), 30_000, 'a settings commit after space returned').catch((e: Error) => problems.push(e.message));
        await waitFor(async () => (await size(logFile)) > logAtFull, 60_000, 'log lines written again').catch((e: Error) => problems.push(e.message));
        t.recovery(now() - t0);
        JSON.parse(await readFile(settingsFile, 'utf8'));
        const lines = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
        const torn = lines.filter((l) => {
          try {
            JSON.parse(l);
            return false;
          } catch {
            return true;
          }
        });
        if (torn.length > 1) problems.push(`${torn.length} torn log lines`);
        if (b!.pid !== pid || b!.child?.exitCode !== null) problems.push('berthd exited');
        return problems;
      });
    }
    t.note = `${CYCLES} fill/free cycles; recovery = space freed → settings commit and new log lines`;
  } catch (e) {
    t.fail(`setup: ${(e as Error).message}`);
  } finally {
    c?.close();
    if (b) await b.kill();
    if (mounted && b) {
      if ((await run('umount', [b.stateDir])) !== 0) await run('umount', ['-l', b.stateDir]);
    }
    if (b) await dropBerthd(env, b);
  }
  return [t.row()];
}
