import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { ContainerLifecycle } from '../../src/containerd/lifecycle.js';

/** Remove every container (task, snapshot, record) in every namespace of a containerd. */
export async function removeAllContainers(client: ContainerdClient): Promise<void> {
  for (const ns of await client.listNamespaces().catch(() => [])) {
    const lc = new ContainerLifecycle(client, ns.name);
    for (const c of await client.listContainers([], { namespace: ns.name }).catch(() => [])) await lc.remove(c.id).catch(() => undefined);
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
