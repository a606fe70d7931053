// Capability names and the per-class sets. Kept here (not in src/ocispec) because
// validation needs them too: a workload asking for an unsafe capability is a
// unit error, reported offline, not a build-time surprise.

/** Every capability Linux knows (up to CAP_CHECKPOINT_RESTORE, Linux 5.9). */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** containerd's populateDefaultUnixSpec set; host units start from it. */
export const CONTAINERD_DEFAULT_CAPS: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** What Bottlerocket adds for bootstrap containers (they set up the host before anything else runs). */
export const BOOTSTRAP_EXTRA_CAPS: readonly string[] = [
  'CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_SYS_CHROOT', 'CAP_SYS_MODULE', 'CAP_AUDIT_CONTROL',
];

/**
 * Workloads are untrusted: they start from containerd's set minus NET_RAW
 * (raw sockets allow packet spoofing on the container's network) and MKNOD
 * (workloads may not use devices at all, so creating device nodes is useless
 * and only widens the attack surface).
 */
export const WORKLOAD_DEFAULT_CAPS: readonly string[] = CONTAINERD_DEFAULT_CAPS.filter(
  (c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD',
);

/**
 * The only capabilities a workload may add: containerd's default set, i.e. a
 * workload can opt back into NET_RAW (ping) or MKNOD, never beyond what an
 * ordinary containerd container gets.
 */
export const WORKLOAD_ADDABLE_CAPS: readonly string[] = CONTAINERD_DEFAULT_CAPS;

export type CapabilityParse = { ok: true; value: string } | { ok: false; message: string };

/** "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; "ALL" only where `allowAll`. */
export function normalizeCapability(name: string, allowAll: boolean): CapabilityParse {
  const upper = name.toUpperCase();
  if (upper === 'ALL' || upper === 'CAP_ALL') {
    return allowAll
      ? { ok: true, value: 'ALL' }
      : { ok: false, message: '"ALL" may only be dropped; a host unit that needs every capability is superpowered' };
  }
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!KNOWN_CAPABILITIES.includes(full)) {
    return { ok: false, message: `unknown capability ${JSON.stringify(name)}` };
  }
  return { ok: true, value: full };
}
