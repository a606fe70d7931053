import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { removeStaleTempFiles, writeFileAtomic } from '../util/atomic-file.js';
import type { UnitSpec } from '../units/types.js';

/**
 * Bootstrap units run once ever (`once`: a marker under the state dir, which persists) or once per boot
 * (`always`: a marker under the run dir, a tmpfs that a reboot empties, so a berthd restart does not re-run
 * them while the host containers they prepared keep running). A marker write killed half-way leaves a
 * temp file next to the marker; the first look at a marker removes those (berthd is their only writer).
 */
export function bootstrapMarkers(stateDir: string, runDir: string): { done(unit: UnitSpec): Promise<boolean>; mark(unit: UnitSpec): Promise<void> } {
  const file = (unit: UnitSpec): string => path.join(unit.bootstrap?.mode === 'once' ? path.join(stateDir, 'bootstrap') : path.join(runDir, 'bootstrap'), `${unit.name}.done`);
  const swept = new Set<string>();
  return {
    async done(unit) {
      const marker = file(unit);
      if (!swept.has(marker)) {
        swept.add(marker);
        await removeStaleTempFiles(marker);
      }
      return access(marker).then(() => true, () => false);
    },
    async mark(unit) {
      await mkdir(path.dirname(file(unit)), { recursive: true, mode: 0o700 });
      await writeFileAtomic(file(unit), `${new Date().toISOString()}\n`);
    },
  };
}
