// The SELinux mount label on a container's rootfs mounts.
//
// runc applies the OCI spec's `linux.mountLabel` to the mounts it makes itself (tmpfs /dev, /dev/shm,
// mqueue, …) but never to the rootfs: containerd's shim mounts that from the snapshotter's Mounts passed to
// Tasks.Create, before runc runs. Without a `context=` option the container sees its image files with the
// label of the snapshot dirs on the host (container_ro_file_t, shared by every container), so a workload
// would have to be allowed to execute that shared type and MCS would not separate its rootfs from other
// workloads'. With `context=<mount label>` every file of the rootfs carries the container's own label
// (container_file_t:s0:cX,cY for a workload), as CRI-O/Podman and the Go label package's FormatMountLabel do.
import type { Mount } from './types.js';

/**
 * The kernel's SELinux mount options. `context=` may not be combined with `defcontext=`, and a second,
 * different context option is refused ("SELinux: mount invalid"): any already present is replaced.
 */
const SELINUX_CONTEXT_OPTIONS = ['context=', 'fscontext=', 'defcontext=', 'rootcontext='];

/**
 * Mount types whose superblock takes `context=`. A bind mount (what a snapshotter returns for a snapshot
 * with no parent, or the native snapshotter) does not make a superblock: the kernel ignores its data, so
 * an option there would only pretend the rootfs is labelled.
 */
const LABELLABLE_TYPES = new Set(['overlay', 'tmpfs', 'ext4', 'xfs', 'btrfs']);

/** The spec's mount label, present only when berth decided SELinux labels apply (withSelinuxLabels). */
export function specMountLabel(spec: unknown): string | undefined {
  if (typeof spec !== 'object' || spec === null) return undefined;
  const linux = (spec as { linux?: unknown }).linux;
  if (typeof linux !== 'object' || linux === null) return undefined;
  const label = (linux as { mountLabel?: unknown }).mountLabel;
  return typeof label === 'string' && label !== '' ? label : undefined;
}

/** `context="<label>"`: quoted because an MCS range has commas, which would otherwise split the option. */
export function contextOption(label: string): string {
  // A quote or whitespace inside the label would end the quoted value early and corrupt the option string.
  if (!/^[A-Za-z0-9_.:,-]+$/.test(label)) throw new TypeError(`not a usable SELinux mount label: ${JSON.stringify(label)}`);
  return `context="${label}"`;
}

/**
 * The rootfs mounts as Tasks.Create must get them: with no label (SELinux not applied) they are returned
 * unchanged, so a host without SELinux mounts exactly what the snapshotter said; with a label every mount
 * that makes a superblock gets `context="<label>"` in place of any SELinux context option it had.
 * Pure: the input is not modified.
 */
export function withRootfsMountLabel(mounts: readonly Mount[], mountLabel: string | undefined): Mount[] {
  if (mountLabel === undefined || mountLabel === '') return mounts.map((m) => ({ ...m, options: [...m.options] }));
  const option = contextOption(mountLabel);
  return mounts.map((m) => {
    if (!LABELLABLE_TYPES.has(m.type)) return { ...m, options: [...m.options] };
    const kept = m.options.filter((o) => !SELINUX_CONTEXT_OPTIONS.some((p) => o.startsWith(p)));
    return { ...m, options: [...kept, option] };
  });
}
