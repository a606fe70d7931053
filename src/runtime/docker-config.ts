// The OCI spec berth built for a workload, said in Docker's terms: the same command, user, environment,
// capabilities, limits, mounts and confinement, so a workload gets the same policy on either engine.
// Docker's own restart policy is off (berth's supervisor restarts), and nothing privileged is ever asked for.
import type Dockerode from 'dockerode';
import type { OciMount, OciSpec, SelinuxDecision } from '../ocispec/types.js';
import { LABELS } from './types.js';

// Mounts Docker makes itself for every container; berth's copies of them are not passed on.
const ENGINE_MOUNTS = new Set(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']);

function bindString(m: OciMount): string {
  const ro = m.options.includes('ro');
  const extra = m.options.filter((o) => ['rprivate', 'private', 'rslave', 'slave', 'rshared', 'shared'].includes(o));
  return `${m.source}:${m.destination}:${[ro ? 'ro' : 'rw', ...extra].join(',')}`;
}

function tmpfsOptions(m: OciMount): string {
  return m.options.join(',');
}

/** SecurityOpt entries: no-new-privileges always; SELinux labels only when they are applied. */
export function securityOpts(spec: OciSpec, selinux: Pick<SelinuxDecision, 'applied' | 'processLabel'> | undefined): string[] {
  const out: string[] = [];
  if (spec.process.noNewPrivileges) out.push('no-new-privileges');
  if (selinux?.applied) {
    // system_u:system_r:container_t:s0:c1,c2 → type and level.
    const [, , type, ...level] = selinux.processLabel.split(':');
    if (type) out.push(`label=type:${type}`);
    if (level.length > 0) out.push(`label=level:${level.join(':')}`);
  }
  return out;
}

export function dockerCreateOptions(
  name: string,
  image: string,
  spec: OciSpec,
  labels: Record<string, string>,
): Dockerode.ContainerCreateOptions {
  const ns = new Set(spec.linux.namespaces.map((n) => n.type));
  const res = spec.linux.resources;
  const binds = spec.mounts.filter((m) => m.type === 'bind' && !ENGINE_MOUNTS.has(m.destination)).map(bindString);
  const tmpfs = Object.fromEntries(spec.mounts.filter((m) => m.type === 'tmpfs' && !ENGINE_MOUNTS.has(m.destination)).map((m) => [m.destination, tmpfsOptions(m)]));
  const cpu = res.cpu?.quota !== undefined && res.cpu.period ? Math.round((res.cpu.quota / res.cpu.period) * 1e9) : undefined;
  const selinux = labels[LABELS.selinuxApplied] === 'true' ? { applied: true, processLabel: labels[LABELS.selinuxProcess] ?? '' } : undefined;
  const hostConfig: Dockerode.HostConfig = {
    ReadonlyRootfs: spec.root.readonly,
    Privileged: false,
    CapDrop: ['ALL'],
    CapAdd: [...spec.process.capabilities.effective],
    SecurityOpt: securityOpts(spec, selinux),
    Binds: binds,
    Tmpfs: tmpfs,
    NetworkMode: ns.has('network') ? 'none' : 'host',
    PidMode: ns.has('pid') ? '' : 'host',
    IpcMode: 'private',
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    Devices: [],
    Ulimits: spec.process.rlimits.map((r) => ({ Name: r.type.replace(/^RLIMIT_/, '').toLowerCase(), Soft: r.soft, Hard: r.hard })),
    MaskedPaths: spec.linux.maskedPaths,
    ReadonlyPaths: spec.linux.readonlyPaths,
    // Logs flow to berth through attach; Docker's own copy stays small.
    LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
  };
  if (res.memory?.limit !== undefined) {
    hostConfig.Memory = res.memory.limit;
    hostConfig.MemorySwap = res.memory.swap ?? res.memory.limit;
  }
  if (cpu !== undefined) hostConfig.NanoCpus = cpu;
  if (res.pids?.limit !== undefined) hostConfig.PidsLimit = res.pids.limit;
  return {
    name,
    Image: image,
    Entrypoint: spec.process.args.slice(0, 1),
    Cmd: spec.process.args.slice(1),
    Env: spec.process.env,
    WorkingDir: spec.process.cwd,
    User: `${spec.process.user.uid}:${spec.process.user.gid}`,
    Labels: labels,
    Tty: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: hostConfig,
  };
}
