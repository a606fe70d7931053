import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { LayerEntry } from './oci-archive.js';

/** Debian's busybox-static, the one binary every berth test and built-in image is made from. */
export const BUSYBOX_PATH = '/bin/busybox';

/** Layer entries for a minimal root: busybox, its applets as symlinks, and the usual empty dirs. */
export function busyboxRootfs(extra: LayerEntry[] = []): LayerEntry[] {
  const binary = readFileSync(BUSYBOX_PATH);
  const applets = execFileSync(BUSYBOX_PATH, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  const dirs = ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'run', 'root', 'var', 'var/log', 'usr', 'usr/bin', 'sbin'];
  return [
    ...dirs.map((d): LayerEntry => ({ type: 'dir', path: d, mode: d === 'tmp' ? 0o1777 : 0o755 })),
    { type: 'file', path: 'bin/busybox', content: binary, mode: 0o755 },
    ...applets.map((a): LayerEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'etc/passwd', content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'), mode: 0o644 },
    { type: 'file', path: 'etc/group', content: Buffer.from('root:x:0:\nnogroup:x:65534:\n'), mode: 0o644 },
    ...extra,
  ];
}
