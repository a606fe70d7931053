// Host facts for berth.v1.Host/Facts, from systeminformation (loaded on first use: it is large, and most
// berthd runs never serve a Facts call) plus the injected HostApi for what only berth knows.
import type { HostApi } from './services.js';
import type { WireHostFacts } from '../wire/messages.js';

type SystemInformation = typeof import('systeminformation');

let si: Promise<SystemInformation> | undefined;
function systeminformation(): Promise<SystemInformation> {
  si ??= import('systeminformation').then((m) => (m as { default?: SystemInformation }).default ?? m);
  return si;
}

type StaticFacts = Pick<WireHostFacts, 'os' | 'kernel' | 'cpu'>;
let staticFacts: Promise<StaticFacts> | undefined;

/** OS and CPU do not change while berthd runs; gather them once (osInfo alone forks a few commands). */
function getStaticFacts(): Promise<StaticFacts> {
  staticFacts ??= (async () => {
    const lib = await systeminformation();
    const [os, cpu] = await Promise.all([lib.osInfo(), lib.cpu()]);
    return {
      os: { platform: os.platform, distro: os.distro, release: os.release, arch: os.arch, hostname: os.hostname },
      kernel: os.kernel,
      cpu: {
        manufacturer: cpu.manufacturer,
        model: [cpu.manufacturer, cpu.brand].filter((s) => s !== '').join(' '),
        cores: cpu.cores,
        physical_cores: cpu.physicalCores,
        speed: cpu.speed,
      },
    };
  })();
  // A failure is not cached: the next call tries again.
  staticFacts.catch(() => {
    staticFacts = undefined;
  });
  return staticFacts;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Every fact it can get; a fact that fails becomes a warning instead of failing the whole call. */
export async function gatherHostFacts(host: HostApi): Promise<WireHostFacts> {
  const facts: WireHostFacts = {
    os: null, kernel: '', cpu: null, memory: null, disks: [], filesystems: [], selinux: null, containerd_version: '', warnings: [],
  };
  const lib = await systeminformation();
  const [statics, mem, blocks, fs, selinux, containerd] = await Promise.allSettled([
    getStaticFacts(), lib.mem(), lib.blockDevices(), lib.fsSize(), host.selinux(), host.containerdVersion(),
  ]);
  if (statics.status === 'fulfilled') Object.assign(facts, statics.value);
  else facts.warnings.push(`os/cpu: ${reason(statics.reason)}`);
  if (mem.status === 'fulfilled') facts.memory = { total: mem.value.total, free: mem.value.free, available: mem.value.available };
  else facts.warnings.push(`memory: ${reason(mem.reason)}`);
  if (blocks.status === 'fulfilled') {
    facts.disks = blocks.value
      .filter((b) => b.type === 'disk')
      .map((b) => ({ name: b.name, model: b.model ?? '', size: b.size ?? 0, removable: b.removable === true }));
  } else facts.warnings.push(`disks: ${reason(blocks.reason)}`);
  if (fs.status === 'fulfilled') {
    // Container root filesystems (overlay) are the runtime's business, not the host's storage.
    facts.filesystems = fs.value.filter((f) => f.type !== 'overlay').map((f) => ({ device: f.fs, type: f.type, mount: f.mount, size: f.size, used: f.used }));
  } else facts.warnings.push(`filesystems: ${reason(fs.reason)}`);
  if (selinux.status === 'fulfilled') facts.selinux = { enabled: selinux.value.enabled, mode: selinux.value.mode };
  else facts.warnings.push(`selinux: ${reason(selinux.reason)}`);
  if (containerd.status === 'fulfilled') facts.containerd_version = containerd.value;
  else facts.warnings.push(`containerd: ${reason(containerd.reason)}`);
  return facts;
}
