// `berthctl workloads run` flags → a WorkloadRequest. Pure, so the parsing is tested without a daemon.
// Only the shape is checked here; policy (allow-list, capabilities, limits) is berthd's to enforce.
import { InvalidArgumentError } from '../commander.js';
import { parseSize } from '../../units/quantities.js';
import { RESTART_POLICIES, type RestartPolicy, type WorkloadMount, type WorkloadRequest } from '../../wire/index.js';

export interface RunFlags {
  image: string;
  env?: string[];
  memory?: string;
  cpus?: string;
  pids?: string;
  mount?: string[];
  restart?: string;
  capAdd?: string[];
  privileged?: boolean;
  network?: string;
  pid?: string;
  device?: string[];
}

export const collect = (v: string, acc: string[] | undefined): string[] => [...(acc ?? []), v];

export function parseEnv(items: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--env ${item}: expected KEY=VALUE`);
    env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

/** SRC:DST[:ro|:rw]; read-only unless `:rw` is given. */
export function parseMount(text: string): WorkloadMount {
  const parts = text.split(':');
  const mode = parts.length === 3 ? parts[2] : undefined;
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1] || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new InvalidArgumentError(`--mount ${text}: expected SRC:DST[:ro|:rw]`);
  }
  return { source: parts[0], destination: parts[1], readOnly: mode !== 'rw' };
}

// Docker's names for the same policies, so `--restart no` works as people type it.
const RESTART_ALIASES: Record<string, RestartPolicy> = { no: 'never', 'unless-stopped': 'always' };

export function parseRestart(text: string | undefined): RestartPolicy {
  if (text === undefined) return 'always';
  const p = RESTART_ALIASES[text] ?? text;
  if (!RESTART_POLICIES.includes(p as RestartPolicy)) throw new InvalidArgumentError(`--restart ${text}: expected one of ${RESTART_POLICIES.join(', ')}`);
  return p as RestartPolicy;
}

function number(flag: string, text: string | undefined, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`${flag} ${text}: expected ${integer ? 'an integer' : 'a number'}`);
  return n;
}

function namespaceFlag(flag: string, text: string | undefined): boolean {
  if (text === undefined || text === 'private' || text === 'none') return false;
  if (text === 'host') return true;
  throw new InvalidArgumentError(`${flag} ${text}: expected host or private`);
}

export function runRequest(name: string, command: readonly string[], f: RunFlags): WorkloadRequest {
  let memoryBytes: number | undefined;
  if (f.memory !== undefined) {
    const r = parseSize(f.memory);
    if (!r.ok) throw new InvalidArgumentError(`--memory ${f.memory}: ${r.message}`);
    memoryBytes = r.value;
  }
  const cpus = number('--cpus', f.cpus, false);
  const pids = number('--pids', f.pids, true);
  return {
    name,
    image: f.image,
    command: [...command],
    env: parseEnv(f.env ?? []),
    ...(memoryBytes !== undefined ? { memoryBytes } : {}),
    ...(cpus !== undefined ? { cpus } : {}),
    ...(pids !== undefined ? { pids } : {}),
    mounts: (f.mount ?? []).map(parseMount),
    restart: parseRestart(f.restart),
    capAdd: [...(f.capAdd ?? [])],
    privileged: f.privileged ?? false,
    hostNetwork: namespaceFlag('--network', f.network),
    hostPid: namespaceFlag('--pid', f.pid),
    devices: [...(f.device ?? [])],
  };
}
