// Workload request → UnitSpec of class "workload", or the reasons it is refused. The unit goes through
// validateUnit (the same rules as a unit file) and the spec builder's host checks (allow-list, API socket),
// then the operator's workload policy (allowed capabilities, required memory limit). Nothing here has side
// effects: a refused request leaves nothing behind.
import { normalizeCapability, validateUnit } from '../units/index.js';
import { LIST_MAX_ITEMS } from '../units/limits.js';
import type { UnitSpec } from '../units/types.js';
import { resolveInputs } from '../ocispec/index.js';
import type { SpecContext } from '../ocispec/types.js';
import type { HostPathFacts } from '../ocispec/host-path-rules.js';
import type { PolicyViolation, WorkloadRequest } from './types.js';

export interface WorkloadPolicy {
  hostPathAllowList: readonly string[];
  allowedCapabilities: readonly string[];
  requireMemoryLimit: boolean;
  /** Capabilities this host can grant at all. */
  hostCapabilities: readonly string[];
  stateDir: string;
  runDir: string;
  apiSocketPath: string;
}

export type PolicyResult = { ok: true; unit: UnitSpec } | { ok: false; violations: PolicyViolation[] };

export const WORKLOAD_STOP_TIMEOUT = '10s';

/** The unit file a request stands for (only the keys it sets, so validation messages stay on point). */
export function workloadUnitFile(req: WorkloadRequest): Record<string, unknown> {
  const raw: Record<string, unknown> = { name: req.name, class: 'workload', image: req.image, description: 'workload' };
  if (req.command.length > 0) raw.command = [...req.command];
  if (Object.keys(req.env).length > 0) raw.env = { ...req.env };
  if (req.privileged) raw.superpowered = true;
  if (req.mounts.length > 0) {
    raw.mounts = req.mounts.map((m) => ({ type: 'bind', source: m.source, destination: m.destination, options: [m.readOnly ? 'ro' : 'rw'] }));
  }
  if (req.capAdd.length > 0) raw.capabilities = { add: [...req.capAdd] };
  if (req.devices.length > 0) raw.devices = req.devices.map((path) => ({ path, permissions: 'rwm' }));
  if (req.hostNetwork || req.hostPid) {
    raw.namespaces = { ...(req.hostNetwork ? { 'host-network': true } : {}), ...(req.hostPid ? { 'host-pid': true } : {}) };
  }
  const resources: Record<string, number> = {};
  if (req.memoryBytes !== undefined) resources.memory = req.memoryBytes;
  if (req.cpus !== undefined) resources.cpus = req.cpus;
  if (req.pids !== undefined) resources.pids = req.pids;
  if (Object.keys(resources).length > 0) raw.resources = resources;
  raw.restart = { policy: req.restart };
  raw.stop = { timeout: WORKLOAD_STOP_TIMEOUT };
  return raw;
}

// Unit-file paths → the request's field names.
const FIELD_MAP: [RegExp, string][] = [
  [/^superpowered/, 'privileged'],
  [/^namespaces\.host-network/, 'host_network'],
  [/^namespaces\.host-pid/, 'host_pid'],
  [/^devices(\[\d+\])?(\.path)?/, 'devices$1'],
  [/^capabilities\.add/, 'cap_add'],
  [/^resources\./, ''],
  [/^restart\.policy/, 'restart'],
  // Whole-unit errors (the total size limit) are about the request as a whole.
  [/^\(unit\)/, 'spec'],
];

export function requestField(unitPath: string): string {
  for (const [re, to] of FIELD_MAP) if (re.test(unitPath)) return unitPath.replace(re, to);
  return unitPath;
}

const PROBE_IMAGE = { env: [], entrypoint: ['/probe'], cmd: [], workingDir: '', user: '' };

/**
 * The spec builder's host checks (bind sources, host capabilities), run without an image. With `facts`
 * (host-paths.ts, gathered by the caller) bind sources are checked as the filesystem resolves them;
 * without, lexically only (and the supervisor checks them for real at every start).
 */
function hostChecks(unit: UnitSpec, policy: WorkloadPolicy, facts?: HostPathFacts): PolicyViolation[] {
  const ctx: SpecContext = {
    containerId: unit.name,
    namespace: 'policy-check',
    stateDir: policy.stateDir,
    apiSocketPath: policy.apiSocketPath,
    runDir: policy.runDir,
    ...(facts ? { hostPaths: facts } : {}),
    selinux: { mode: 'off', active: false },
    mcs: [0, 1],
    hostPathAllowList: [...policy.hostPathAllowList],
    hostCapabilities: [...policy.hostCapabilities],
    imageConfig: PROBE_IMAGE,
  };
  const r = resolveInputs(unit, ctx);
  if (r.ok) return [];
  return r.errors.filter((e) => e.path.startsWith('mounts') || e.path.startsWith('capabilities')).map((e) => ({ field: requestField(e.path), message: e.message }));
}

function policyChecks(req: WorkloadRequest, policy: WorkloadPolicy): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  if (policy.requireMemoryLimit && req.memoryBytes === undefined) {
    out.push({ field: 'memory', message: 'a memory limit is required for workloads on this host (workloads.require-memory-limit)' });
  }
  const allowed = new Set(policy.allowedCapabilities.map((c) => normalizeCapability(c, false)).flatMap((r) => (r.ok ? [r.value] : [])));
  // Oversized lists are refused by validation with one error naming the field; do not report each item here.
  if (req.capAdd.length <= LIST_MAX_ITEMS) req.capAdd.forEach((cap, i) => {
    const n = normalizeCapability(cap, false);
    if (n.ok && !allowed.has(n.value)) {
      out.push({ field: `cap_add[${i}]`, message: `${n.value} is not in workloads.allowed-capabilities (${[...allowed].map((c) => c.slice(4)).join(', ') || 'none'})` });
    }
  });
  return out;
}

function dedupe(vs: PolicyViolation[]): PolicyViolation[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const k = `${v.field}\0${v.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `facts`: the request's bind sources resolved on the host (see hostChecks). */
export function checkWorkload(req: WorkloadRequest, policy: WorkloadPolicy, facts?: HostPathFacts): PolicyResult {
  const violations = policyChecks(req, policy);
  const validated = validateUnit(workloadUnitFile(req));
  if (!validated.ok) {
    violations.push(...validated.errors.map((e) => ({ field: requestField(e.path), message: e.message })));
    return { ok: false, violations: dedupe(violations) };
  }
  violations.push(...hostChecks(validated.unit, policy, facts));
  return violations.length > 0 ? { ok: false, violations: dedupe(violations) } : { ok: true, unit: validated.unit };
}

export function formatViolations(vs: readonly PolicyViolation[]): string {
  return vs.map((v) => `${v.field}: ${v.message}`).join('; ');
}
