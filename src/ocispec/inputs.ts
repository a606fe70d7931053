// Checks everything that can make a build fail and resolves it once, so the
// SpecOpts that follow are total functions that cannot fail.
import { posix } from 'node:path';
import { KNOWN_CAPABILITIES } from '../units/capabilities.js';
import type { UnitError } from '../units/errors.js';
import { isWithin, overlaps } from '../units/paths.js';
import type { UnitSpec } from '../units/types.js';
import { lookupDevice } from './devices.js';
import { checkResolvedSources } from './host-path-rules.js';
import { decideSelinux, labelsFor, mcsProblem } from './selinux.js';
import type { OciUser, SpecContext, SpecInput } from './types.js';

export const HOST_CONTAINERS_DIR = 'host-containers';

/** Host directory holding a host/bootstrap unit's persistent data. */
export function persistentDir(stateDir: string, name: string): string {
  return posix.join(stateDir, HOST_CONTAINERS_DIR, name);
}

/** Numeric image user ("", "uid", "uid:gid"); undefined when it names a user or group. */
export function parseImageUser(user: string): OciUser | undefined {
  if (user === '') return { uid: 0, gid: 0 };
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  // A uid without a gid gets gid 0, as containerd does when /etc/passwd has no entry.
  return m === null ? undefined : { uid: Number(m[1]), gid: m[2] === undefined ? 0 : Number(m[2]) };
}

function checkUser(unit: UnitSpec, ctx: SpecContext, errors: UnitError[]): OciUser {
  if (unit.user !== undefined) return { uid: unit.user.uid, gid: unit.user.gid ?? 0 };
  const parsed = parseImageUser(ctx.imageConfig.user);
  if (parsed === undefined) {
    errors.push({
      path: 'user',
      message: `the image runs as "${ctx.imageConfig.user}", which is not numeric; set user = "uid[:gid]" in the unit or resolve it from the image's /etc/passwd first`,
    });
    return { uid: 0, gid: 0 };
  }
  return parsed;
}

/** Lexically (no filesystem at hand): trees no workload may mount whatever the allow-list says. */
function lexicalDenied(source: string, ctx: SpecContext): string | undefined {
  if (source === '/') return `host path / is the host's root filesystem`;
  const inside = ['/proc', '/sys', '/dev'].find((d) => isWithin(source, d));
  if (inside !== undefined) return `host path ${source} would expose the host's ${inside}`;
  if (ctx.runDir !== undefined && overlaps(source, ctx.runDir)) return `host path ${source} would expose berth's run directory (${ctx.runDir})`;
  if (overlaps(source, ctx.apiSocketPath) || overlaps(source, posix.dirname(ctx.apiSocketPath))) return `host path ${source} would expose berth's API socket to a workload`;
  if (overlaps(source, ctx.stateDir)) return `host path ${source} would expose berth's state directory (${ctx.stateDir})`;
  return undefined;
}

function checkBindSources(unit: UnitSpec, ctx: SpecContext, errors: UnitError[]): Map<number, string> {
  const resolved = new Map<number, string>();
  const binds = unit.mounts.flatMap((m, i) => (m.type === 'bind' ? [{ m, i }] : []));
  // Host and bootstrap units' binds come from the operator's own unit files: taken as written.
  if (unit.class !== 'workload') {
    for (const { m, i } of binds) resolved.set(i, posix.resolve('/', m.source));
    return resolved;
  }
  if (ctx.hostPaths !== undefined) {
    // The real check: every component resolved on the host (host-paths.ts), the resolved path is what
    // runc is handed. A source the facts do not cover is refused, never trusted lexically.
    const checked = checkResolvedSources(binds.map((b) => b.i), ctx.hostPaths);
    errors.push(...checked.errors);
    return checked.resolved;
  }
  // Lexical pre-check only (offline validation, a request before its I/O step): ".." resolved as text.
  const allow = ctx.hostPathAllowList.filter((p) => p.startsWith('/')).map((p) => posix.resolve(p));
  for (const { m, i } of binds) {
    const source = posix.resolve('/', m.source);
    resolved.set(i, source);
    const path = `mounts[${i}].source`;
    const denied = lexicalDenied(source, ctx);
    if (denied !== undefined) {
      errors.push({ path, message: denied });
    } else if (!allow.some((dir) => isWithin(source, dir))) {
      errors.push({
        path,
        message: `host path ${source} is outside the allowed host paths (${allow.length > 0 ? allow.join(', ') : 'none configured'})`,
      });
    }
  }
  return resolved;
}

function checkDevices(unit: UnitSpec, ctx: SpecContext, errors: UnitError[]): SpecInput['devices'] {
  const out: SpecInput['devices'] = [];
  unit.devices.forEach((d, i) => {
    const node = lookupDevice(d.path, ctx.deviceNodes);
    if (node === undefined) {
      errors.push({ path: `devices[${i}].path`, message: `unknown device ${d.path}; the caller must supply its type and numbers in deviceNodes` });
    } else {
      out.push({ path: d.path, node, permissions: d.permissions });
    }
  });
  return out;
}

function checkProcess(unit: UnitSpec, ctx: SpecContext, errors: UnitError[]): void {
  const entry = unit.command ?? ctx.imageConfig.entrypoint;
  const cmd = unit.args ?? (unit.command !== undefined ? [] : ctx.imageConfig.cmd);
  if (entry.length + cmd.length === 0) {
    errors.push({ path: 'command', message: 'nothing to run: the image has no entrypoint or cmd and the unit sets neither command nor args' });
  }
  const wd = ctx.imageConfig.workingDir;
  if (unit.workingDir === undefined && wd !== '' && !wd.startsWith('/')) {
    errors.push({ path: 'working-dir', message: `the image's working directory "${wd}" is not absolute; set working-dir in the unit` });
  }
}

export function resolveInputs(unit: UnitSpec, ctx: SpecContext): { ok: true; input: SpecInput } | { ok: false; errors: UnitError[] } {
  const errors: UnitError[] = [];
  if (!ctx.stateDir.startsWith('/')) errors.push({ path: 'stateDir', message: 'must be an absolute path' });
  if (!ctx.apiSocketPath.startsWith('/')) errors.push({ path: 'apiSocketPath', message: 'must be an absolute path' });

  if (unit.class === 'workload') {
    const problem = mcsProblem(ctx.mcs);
    if (problem !== undefined) errors.push({ path: 'mcs', message: problem });
  }
  const selinux = decideSelinux(labelsFor(unit, ctx.mcs), ctx.selinux);
  if (!selinux.ok) errors.push(selinux.error);

  const hostCapabilities = [...(ctx.hostCapabilities ?? KNOWN_CAPABILITIES)];
  const granted = new Set(hostCapabilities);
  unit.capabilities.add.forEach((cap, i) => {
    if (!granted.has(cap)) {
      errors.push({ path: `capabilities.add[${i}]`, message: `${cap} is not among the capabilities this host grants` });
    }
  });

  const user = checkUser(unit, ctx, errors);
  const bindSources = checkBindSources(unit, ctx, errors);
  const devices = checkDevices(unit, ctx, errors);
  checkProcess(unit, ctx, errors);

  if (errors.length > 0 || !selinux.ok) return { ok: false, errors };
  return { ok: true, input: { unit, ctx, selinux: selinux.decision, user, bindSources, devices, hostCapabilities } };
}
