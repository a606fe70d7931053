// How many TCP connections the simulated hosts open to etcd.
//
// grpc-js keeps one process-wide pool of connections ("subchannels") keyed by target address and channel
// options: every etcd3 client in one process that talks to the same member shares one HTTP/2 connection.
// In berthd that is right (one process, one host). In this simulation, where a few hundred hosts live in one
// process, it would make 1,000 hosts look like 2 connections per member. So by default each simulated
// host's etcd3 client is given one channel option of its own (a key grpc-js ignores), which puts it in its
// own pool entry: its own connections, shared between its own KV, Lease and Watch clients as in berthd. The
// fleet code itself is untouched; this only tags what it creates. `--shared-connections` turns it off.

import { Host } from 'etcd3/lib/connection-pool.js';

const TAG = 'berth-fleet-sim.host';

export function givePerHostConnections(): void {
  let next = 0;
  const tagged = new WeakSet<Host>();
  const original = Host.prototype.getServiceClient;
  Host.prototype.getServiceClient = function (this: Host, name) {
    if (!tagged.has(this)) {
      tagged.add(this);
      // etcd3 keeps the options it was given in a private field and passes them to every grpc Client.
      const self = this as unknown as { channelOptions?: Record<string, unknown> };
      self.channelOptions = { ...(self.channelOptions ?? {}), [TAG]: ++next };
    }
    return original.call(this, name);
  };
}

/**
 * TCP connections this process has open to `ports` (read from /proc/net/tcp; the sockets are ours because
 * the local side is in /proc/self/fd). Counts established connections only.
 */
export async function openConnections(ports: readonly number[]): Promise<number> {
  const { readFile, readdir, readlink } = await import('node:fs/promises');
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  const wanted = new Set(ports.map((p) => p.toString(16).toUpperCase().padStart(4, '0')));
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const remotePort = f[2]!.split(':')[1]!;
      // State 01 = ESTABLISHED.
      if (f[3] === '01' && wanted.has(remotePort) && inodes.has(f[9]!)) count++;
    }
  }
  return count;
}
