// Typed subset of the OCI runtime spec (config.json) that berth produces,
// plus the builder's inputs and result. Field names follow the OCI JSON.
import type { UnitError } from '../units/errors.js';
import type { UnitSpec } from '../units/types.js';
import type { HostPathFacts } from './host-path-rules.js';

export interface OciUser { uid: number; gid: number; additionalGids?: number[] }
export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}
export interface OciRlimit { type: string; hard: number; soft: number }
export interface OciProcess {
  terminal?: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits: OciRlimit[];
  noNewPrivileges: boolean;
  selinuxLabel?: string;
}
export interface OciRoot { path: string; readonly: boolean }
export interface OciMount { destination: string; type: string; source: string; options: string[] }
export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
export interface OciNamespace { type: OciNamespaceType; path?: string }
export interface OciDevice { path: string; type: 'c' | 'b'; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }
export interface OciDeviceCgroup { allow: boolean; type?: 'a' | 'c' | 'b'; major?: number; minor?: number; access?: string }
export interface OciResources {
  devices: OciDeviceCgroup[];
  memory?: { limit?: number; swap?: number };
  cpu?: { quota?: number; period?: number };
  pids?: { limit: number };
}
export interface OciSeccompArg { index: number; value: number; valueTwo?: number; op: string }
export interface OciSyscall { names: string[]; action: string; errnoRet?: number; args?: OciSeccompArg[] }
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSyscall[];
}
export interface OciLinux {
  namespaces: OciNamespace[];
  cgroupsPath?: string;
  resources: OciResources;
  devices?: OciDevice[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  seccomp?: OciSeccomp;
  mountLabel?: string;
  rootfsPropagation?: string;
}
export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: OciRoot;
  mounts: OciMount[];
  linux: OciLinux;
}

export interface ImageConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
  stopSignal?: string;
}

/** A device node's identity; the caller stats devices the built-in table does not know. */
export interface DeviceNode { type: 'c' | 'b'; major: number; minor: number }

export interface SpecContext {
  containerId: string;
  namespace: string;
  /** Default /var/lib/berth (DEFAULT_STATE_DIR); host persistent dir = <stateDir>/host-containers/<name>. */
  stateDir: string;
  /** Host path of berth's API socket (<run dir>/api.sock). */
  apiSocketPath: string;
  selinux: { mode: 'auto' | 'enforce' | 'off'; active: boolean };
  /** Workload MCS categories (required for workloads). */
  mcs?: [number, number];
  /** Workloads: bind sources must be inside one of these. */
  hostPathAllowList: string[];
  /** berth's run dir (never mountable into a workload); the API socket's dir when absent. */
  runDir?: string;
  /**
   * Workloads: what the filesystem said about each bind source, the allow-list and the deny list
   * (host-paths.ts, gathered right before the build). Without it only lexical checks can run (offline
   * validation, request pre-checks); the supervisor always supplies it.
   */
  hostPaths?: HostPathFacts;
  /** Capabilities the host may grant (superpowered = all of these); default = every known capability. */
  hostCapabilities?: string[];
  /** Extra device nodes by path, beyond the built-in table of well-known devices. */
  deviceNodes?: Record<string, DeviceNode>;
  imageConfig: ImageConfig;
  /** Optional host paths (e.g. /lib/modules) this host lacks; mounts of them are left out. */
  absentHostPaths?: string[];
}

/**
 * Everything a spec needs that is known when the desired state is made (host facts, the settings of that
 * commit, the unit's MCS pair): a SpecContext without what only a start can tell (the image's config, the
 * host's answer for each bind source).
 */
export type PlanContext = Omit<SpecContext, 'imageConfig' | 'hostPaths'>;

/** What the start adds to a plan: the image's config and, for workload bind sources, the host's facts. */
export interface StartFacts {
  image: ImageConfig;
  hostPaths?: HostPathFacts;
}

/** A host dir berth makes before a start: a host container's persistent dir (and its decoded user-data). */
export interface HostDir {
  /** The dir every host dir of this kind lives under; `path` must stay inside it. */
  root: string;
  path: string;
  /** base64; written to `<path>/user-data`, which is removed when absent. */
  userData?: string;
}

export interface SelinuxDecision {
  processLabel: string;
  mountLabel: string;
  applied: boolean;
  reason: string;
}

export type BuildResult =
  | { ok: true; spec: OciSpec; selinux: SelinuxDecision; hostDirs: string[] }
  | { ok: false; errors: UnitError[] };

/** Everything a SpecOpt may read: the unit, the context and values already checked and resolved. */
export interface SpecInput {
  unit: UnitSpec;
  ctx: SpecContext;
  selinux: SelinuxDecision;
  user: OciUser;
  /** Bind sources with ".." resolved (workloads: every symlink too, from ctx.hostPaths), by index into unit.mounts. */
  bindSources: Map<number, string>;
  devices: Array<{ path: string; node: DeviceNode; permissions: string }>;
  hostCapabilities: string[];
}

/** containerd-style SpecOpt: a pure function returning a new spec. */
export type SpecOpt = (spec: OciSpec, input: SpecInput) => OciSpec;
