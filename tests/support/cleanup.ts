import { spawn } from 'node:child_process';
import { readdir, readFile, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { runcRootOf } from '../../src/containerd/runc-root.js';

/** Remove every container (task, snapshot, record) in every namespace of a containerd. */
export async function removeAllContainers(client: ContainerdClient): Promise<void> {
  for (const ns of await client.listNamespaces().catch(() => [])) {
    const lc = new ContainerLifecycle(client, ns.name);
    for (const c of await client.listContainers([], { namespace: ns.name }).catch(() => [])) await lc.remove(c.id).catch(() => undefined);
  }
}

/**
 * Remove the containers (any namespace) whose recorded runc root lies under `dir`: those one berthd made on a
 * containerd other berthds or tests share.
 */
export async function removeContainersUnder(client: ContainerdClient, dir: string): Promise<void> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const ns of await client.listNamespaces().catch(() => [])) {
    const lc = new ContainerLifecycle(client, ns.name);
    for (const c of await client.listContainers([], { namespace: ns.name }).catch(() => [])) {
      if (runcRootOf(c.runtime?.options).startsWith(prefix)) await lc.remove(c.id).catch(() => undefined);
    }
  }
}

/** PIDs of the shims whose command line names `socket` (found through /proc: never by pattern-kill). */
export async function shimPidsOf(socket: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('containerd-shim') && cmd.includes(socket)) pids.push(Number(entry));
  }
  return pids;
}

/** Mount points under `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(dir)).sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<void> {
  for (const m of await mountsUnder(dir)) await new Promise((r) => spawn('umount', ['-l', m], { stdio: 'ignore' }).once('exit', r));
}

/**
 * `runc delete --force` every container whose state is still under the runc root `root` (`<root>/<ns>/<id>`):
 * the last resort once containerd and the shims are gone, so removing the temp dir never drops the state of
 * a container that still runs (its processes, cgroups and mounts would then be out of anyone's reach).
 * Normally there is nothing left: Tasks.Delete has the shim run `runc delete`. Returns the ids it found.
 */
export async function forceDeleteRuncState(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const ns of await readdir(root).catch(() => [])) {
    const nsRoot = path.join(root, ns);
    for (const id of await readdir(nsRoot).catch(() => [])) {
      found.push(`${ns}/${id}`);
      await new Promise((r) => spawn('runc', ['--root', nsRoot, 'delete', '--force', id], { stdio: 'ignore' }).once('exit', r).once('error', r));
    }
  }
  return found;
}

/**
 * rmdir the cgroup `parent` (e.g. /berth-1a2b3c4d, a test berthd's own: ocispec cgroupParent) in every
 * hierarchy once its containers are gone. runc removes only each container's own cgroup, and a test berthd's
 * parent is new with every temp run dir. A parent still in use (not empty) stays.
 */
export async function removeCgroupParent(parent: string): Promise<void> {
  const CGROUP_FS = '/sys/fs/cgroup';
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const mounts = info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === CGROUP_FS || m.startsWith(`${CGROUP_FS}/`));
  for (const m of mounts) await rmdir(path.join(m, parent)).catch(() => undefined);
}
