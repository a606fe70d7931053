import { existsSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeOciArchive, type LayerEntry } from './oci-archive.js';
import { busyboxRootfs, BUSYBOX_PATH } from './busybox-rootfs.js';

import { ADMIN_IMAGE, CONTROL_IMAGE } from './builtin-refs.js';

export { ADMIN_IMAGE, CONTROL_IMAGE, isBuiltinImage } from './builtin-refs.js';

/** PID 1 that idles until told to stop; `exec` is how people use these containers. */
const IDLE_INIT = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; echo "$BERTH_ROLE container ready"; while :; do sleep 3600 & wait $!; done'];

const file = (p: string, text: string, mode = 0o644): LayerEntry => ({ type: 'file', path: p, content: Buffer.from(text), mode });

interface BuiltinImage {
  ref: string;
  extra: LayerEntry[];
  env: string[];
}

const IMAGES: Record<string, BuiltinImage> = {
  [ADMIN_IMAGE]: {
    ref: ADMIN_IMAGE,
    // Made for interactive use: a prompt that says where you are, and a note on how to reach the host.
    extra: [
      file('etc/motd', 'berth admin container (superpowered).\nThe host root is at /.berth/rootfs (read-only); `chroot /.berth/rootfs` to look around.\n'),
      file('etc/profile', 'export PS1="[admin \\w]# "\n[ -f /etc/motd ] && cat /etc/motd\n'),
      file('root/.profile', '. /etc/profile\n'),
    ],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'BERTH_ROLE=admin', 'HOME=/root', 'ENV=/etc/profile', 'TERM=xterm'],
  },
  [CONTROL_IMAGE]: {
    ref: CONTROL_IMAGE,
    extra: [file('etc/profile', 'export PS1="[control \\w]# "\n')],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'BERTH_ROLE=control', 'HOME=/root', 'BERTH_SOCKET=/run/berth/api.sock'],
  },
};

/**
 * The OCI archive of a built-in image, built from Debian's busybox-static into `cacheDir` the first time
 * (no registry needed), named after the busybox binary's hash so an upgraded busybox gives a new image.
 */
export async function builtinArchive(ref: string, cacheDir: string): Promise<string | undefined> {
  const image = IMAGES[ref];
  if (!image) return undefined;
  const key = createHash('sha256').update(readFileSync(BUSYBOX_PATH)).update(JSON.stringify(image)).digest('hex').slice(0, 12);
  const archive = path.join(cacheDir, `${ref.split('/').pop()!.replace(':', '-')}-${key}.tar`);
  if (existsSync(archive)) return archive;
  await writeOciArchive(archive, { ref, layers: [busyboxRootfs(image.extra)], config: { cmd: IDLE_INIT, env: image.env, workingDir: '/root', stopSignal: 'SIGTERM' } });
  return archive;
}
