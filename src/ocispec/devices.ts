// Device numbers of well-known nodes, so that a unit can name a device by
// path and the builder stays pure (no stat). Anything else must be supplied
// by the caller in SpecContext.deviceNodes.
import type { DeviceNode } from './types.js';

export const KNOWN_DEVICES: Readonly<Record<string, DeviceNode>> = {
  '/dev/null': { type: 'c', major: 1, minor: 3 },
  '/dev/zero': { type: 'c', major: 1, minor: 5 },
  '/dev/full': { type: 'c', major: 1, minor: 7 },
  '/dev/random': { type: 'c', major: 1, minor: 8 },
  '/dev/urandom': { type: 'c', major: 1, minor: 9 },
  '/dev/kmsg': { type: 'c', major: 1, minor: 11 },
  '/dev/tty': { type: 'c', major: 5, minor: 0 },
  '/dev/fuse': { type: 'c', major: 10, minor: 229 },
  '/dev/net/tun': { type: 'c', major: 10, minor: 200 },
  '/dev/kvm': { type: 'c', major: 10, minor: 232 },
  '/dev/autofs': { type: 'c', major: 10, minor: 235 },
  '/dev/mapper/control': { type: 'c', major: 10, minor: 236 },
  '/dev/loop-control': { type: 'c', major: 10, minor: 237 },
  '/dev/vhost-net': { type: 'c', major: 10, minor: 238 },
  '/dev/vhost-vsock': { type: 'c', major: 10, minor: 241 },
};

export function lookupDevice(path: string, extra: Readonly<Record<string, DeviceNode>> | undefined): DeviceNode | undefined {
  if (extra !== undefined && Object.hasOwn(extra, path)) return extra[path];
  return Object.hasOwn(KNOWN_DEVICES, path) ? KNOWN_DEVICES[path] : undefined;
}
