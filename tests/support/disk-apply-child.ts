// Child process for the update crash tests: runs one disk install and reports progress on stdout, one JSON line
// each, written synchronously (a line the parent sees was really reached). When progress reaches the stop
// point it prints `stopped` and blocks without returning to the event loop, so the parent can SIGKILL it at
// a known step. Usage: disk-apply-child.js <disk> <stateDir> <planJson> <phase>:<fraction> [maxRunMs]
import { readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createDiskInstaller } from '../../src/updates/disk/index.js';
import type { InstallPlan } from '../../src/updates/disk/index.js';

const [disk, stateDir, planJson, stopAt, maxRunMs] = process.argv.slice(2);
if (!disk || !stateDir || !planJson || !stopAt) {
  process.stderr.write('usage: disk-apply-child <disk> <stateDir> <planJson> <phase>:<fraction> [maxRunMs]\n');
  process.exit(2);
}
const limit = Number(maxRunMs ?? 30_000);
// Never outlive a parent that forgot us.
setTimeout(() => process.exit(3), limit).unref();
const [stopPhase, stopFraction] = stopAt.split(':') as [string, string];
const plan = JSON.parse(planJson) as InstallPlan;
/**
 * In the write phase, stop only once a checkpoint of at least half the stop point is on record: checkpoints
 * complete beside the write, and on a busy machine the last one recorded can lag far behind the progress.
 * The crash tests then know there is something to resume from.
 */
function checkpointed(p: { phase: string; total: number }): boolean {
  if (p.phase !== 'write') return true;
  try {
    const s = JSON.parse(readFileSync(path.join(stateDir!, 'slot-write.json'), 'utf8')) as { written?: number };
    return (s.written ?? 0) >= (Number(stopFraction) / 2) * p.total;
  } catch {
    return false;
  }
}
const installer = createDiskInstaller({ disk, stateDir, activeFrom: 'esp', checkpointBytes: 1024 * 1024 });
try {
  await installer.install(
    plan,
    (p) => {
      writeSync(1, `${JSON.stringify(p)}\n`);
      if (p.phase === stopPhase && p.done >= Number(stopFraction) * p.total && checkpointed(p)) {
        writeSync(1, 'stopped\n');
        // Block here, inside the install, until killed (or the time limit).
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, limit);
        process.exit(4);
      }
    },
    new AbortController().signal,
  );
  writeSync(1, 'done\n');
} catch (e) {
  writeSync(1, `error ${(e as Error).message}\n`);
  process.exit(1);
}
