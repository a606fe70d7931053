// `update rollback`: the next boot runs the previous good version, on demand (Bottlerocket can only get there
// by pinning a version, bottlerocket-os/bottlerocket#437). The installer marks the current default entry bad,
// as a failed boot would, so systemd-boot falls to the previous good one; the record says what and why, and
// the older version's berthd undoes the newer one's settings migrations when it starts.

import { UpdateError } from './errors.js';
import type { UpdateInstaller } from './installer.js';
import { saveLastRollback, type LastRollback } from './rollback-record.js';
import type { Updater } from './updater.js';

export async function rollbackOnDemand(o: { updater: Updater; installer: UpdateInstaller; stateDir: string; now?: () => Date }): Promise<LastRollback> {
  return o.updater.exclusive('rollback', async () => {
    const s = o.updater.status();
    if (s.state === 'ready') {
      throw new UpdateError('state', `${s.chosenVersion ?? 'an update'} is ready to boot next; run update cancel to keep ${s.runningVersion} instead of rolling back`);
    }
    if (!o.installer.rollback) throw new UpdateError('state', 'this host\'s installer cannot roll back (no A/B boot disk)');
    let r: { from: { version: string }; to: { version: string } };
    try {
      r = await o.installer.rollback();
    } catch (err) {
      throw new UpdateError('state', `rollback refused: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const record: LastRollback = {
      fromVersion: r.from.version, toVersion: r.to.version, at: (o.now?.() ?? new Date()).toISOString(),
      reason: `rolled back on demand (update rollback) while running ${s.runningVersion}`,
    };
    await saveLastRollback(o.stateDir, record);
    return record;
  });
}
