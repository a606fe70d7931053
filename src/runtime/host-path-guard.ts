// Workload bind sources are checked once more at the last moment, and what runc mounted is compared with
// what was checked.
//
// Why not hand runc an O_PATH fd (/proc/<berthd pid>/fd/N) instead? That path would be stored in the
// container's record (containerd's spec, Docker's HostConfig), where it names whatever fd N is later; it
// works only while berthd holds the fd between container create and task create; and on Docker it is
// dockerd, not runc, that looks at a bind source first. One mechanism on both backends is easier to reason
// about, and the post-create identity check below gives the fd route's guarantee anyway on containerd:
//
// 1. Right before the build, every component of every source is resolved with lstat (host-paths.ts); the
//    pure rules refuse anything outside the allow-list or on the deny list, and the *resolved* path (no
//    symlink left in it) is what goes into the spec.
// 2. Right before the task is created (containerd Tasks.Create / Docker container start, which is when runc
//    mounts), everything is resolved again: any difference (a component swapped for a symlink or another
//    inode, the path gone) refuses the start, naming mounts[i].source and what changed.
// 3. containerd: Tasks.Create returns once runc has made the mounts, before the workload's process runs.
//    The inode at each destination inside the new container (/proc/<pid>/root/<destination>) must be the
//    inode that was checked; if not, the task is deleted unstarted. So a swap in the window between 2 and
//    runc's mount (milliseconds, and only by someone writing to an allowed dir at that moment) is caught
//    before anything in the container can look. A rename that swaps a directory and swaps it back inside
//    that window is harmless: the inode mounted is then the checked one. (Symlinks *inside* a mounted
//    directory are no escape: the container resolves them against its own root.) The destination is looked
//    up through the container's root as berthd sees it, so an image whose mount point is itself an absolute
//    symlink fails the comparison and is refused: safe, if unhelpful.
//    Docker: `start` creates and starts in one call, so check 3 runs after the process started and a
//    mismatch kills it at once; the remaining window is those few milliseconds, on a swap that raced
//    check 2 (and a process that already exited can no longer be looked into, so it is let be). SELinux
//    (container_t with its own MCS pair) is what keeps a workload from reading host files during it.
import { access, stat } from 'node:fs/promises';
import { checkResolvedSources, resolutionChange, type HostPathFacts } from '../ocispec/host-path-rules.js';
import { bindIndices, unitHostPathFacts, type HostPathPolicy } from './host-paths.js';
import type { UnitSpec } from '../units/types.js';
import { StartRefusedError } from './errors.js';
import type { StartGuard } from './types.js';

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** A start refused because a host path is not (or no longer) what was checked: retrying will not help. */
export class HostPathRefusedError extends StartRefusedError {
  override readonly name = 'HostPathRefusedError';
}

/** The guard for one start of `unit`, whose spec was built from `checked`; undefined when it binds nothing. */
export function hostPathGuard(unit: UnitSpec, checked: HostPathFacts, policy: HostPathPolicy): StartGuard | undefined {
  const indices = bindIndices(unit);
  if (unit.class !== 'workload' || indices.length === 0) return undefined;
  const source = (i: number): string => {
    const m = unit.mounts[i];
    return m?.type === 'bind' ? m.source : '?';
  };
  return {
    async beforeTaskCreate(): Promise<void> {
      const fresh = await unitHostPathFacts(unit, policy);
      const changes = indices.flatMap((i) => {
        const before = checked.sources[i];
        const now = fresh.sources[i];
        const change = before && now ? resolutionChange(before, now) : 'it was not resolved';
        return change === undefined ? [] : [`mounts[${i}].source: host path ${source(i)} changed since it was checked: ${change}`];
      });
      // Unchanged, but the rules are applied to the fresh facts too (the deny list's own dirs may have moved).
      const errors = checkResolvedSources(indices, fresh).errors.map((e) => `${e.path}: ${e.message}`);
      const all = [...changes, ...errors];
      if (all.length > 0) throw new HostPathRefusedError(`refusing to start: ${all.join('; ')}`);
    },
    async afterTaskCreate(pid: number, started: boolean): Promise<void> {
      // Docker: a process that already ended (or is a zombie: no root any more) cannot be looked into (and it ran already, so refusing
      // now would change nothing); containerd's task has not run, so there it must always be inspectable.
      if (started && (pid <= 0 || !(await exists(`/proc/${pid}/root/`)))) return;
      const problems: string[] = [];
      for (const i of indices) {
        const r = checked.sources[i];
        const m = unit.mounts[i];
        if (!r?.ok || m === undefined) continue;
        const want = r.path.chain[r.path.chain.length - 1]!;
        const at = `/proc/${pid}/root${m.destination}`;
        try {
          const st = await stat(at);
          if (st.dev !== want.dev || st.ino !== want.ino) {
            problems.push(`mounts[${i}].source: what was mounted at ${m.destination} (inode ${st.dev}:${st.ino}) is not ${r.path.resolved} as checked (inode ${want.dev}:${want.ino}); it was swapped while the container was created`);
          }
        } catch (e) {
          if (started && !(await exists(`/proc/${pid}/root/`))) return;
          problems.push(`mounts[${i}].source: cannot verify what was mounted at ${m.destination}: ${(e as Error).message}`);
        }
      }
      if (problems.length > 0) throw new HostPathRefusedError(`refusing to start: ${problems.join('; ')}`);
    },
  };
}
