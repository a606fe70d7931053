// The one place where settings are declared. Each entry names a dotted key pattern, its value type (which
// carries the validation rule and CLI text parsing), a description for help text, and the service a change
// affects. Everything else — key lookup, `set k=v` parsing, document validation, typed accessors, `--help` —
// is derived from this table, so adding a setting means adding one entry here.

import { containerNameProblem, mirrorHostProblem, registryHostProblem } from './names.js';
import {
  absolutePathProblem,
  base64Problem,
  booleanType,
  capabilityProblem,
  durationProblem,
  endpointUrlProblem,
  enumType,
  imageReferenceProblem,
  listType,
  nonEmptyProblem,
  sizeProblem,
  stringType,
  userDataProblem,
  type SettingValue,
  type ValueType,
} from './values.js';

/** A variable key segment. Values may contain dots (registry hosts), so a wildcard can span segments. */
export interface Wildcard {
  readonly placeholder: string;
  /** Used in errors: `invalid host container name "a/b": …`. */
  readonly label: string;
  readonly problem: (value: string) => string | undefined;
}

export const WILDCARDS: ReadonlyMap<string, Wildcard> = new Map(
  [
    { placeholder: '<name>', label: 'container name', problem: containerNameProblem },
    { placeholder: '<registry>', label: 'registry host', problem: registryHostProblem },
    { placeholder: '<mirror-registry>', label: 'registry host (or *)', problem: mirrorHostProblem },
  ].map((w) => [w.placeholder, w]),
);

export interface SettingDefinition {
  /** Dotted key with at most one placeholder from WILDCARDS, e.g. `host-containers.<name>.enabled`. */
  readonly pattern: string;
  readonly type: ValueType;
  readonly description: string;
  /** What a change restarts/re-renders, with the same placeholder, e.g. `host-containers.<name>`. */
  readonly service: string;
  /** Value the typed accessors use when neither defaults nor operators set the key. */
  readonly fallback?: SettingValue;
  /** Every instance of the placeholder that has any setting must also have this key (checked at commit). */
  readonly required?: boolean;
  /**
   * A secret: never shown. `get`/`tx pending` (API and berthctl) show "<redacted>" instead of the value
   * (src/settings/redact.ts), error messages say "(hidden)", and nothing logs it. Stored and used as usual.
   */
  readonly sensitive?: boolean;
}

export const SELINUX_MODES = ['auto', 'enforce', 'off'] as const;
export const BOOTSTRAP_MODES = ['off', 'once', 'always'] as const;
export const WORKLOAD_RUNTIMES = ['containerd', 'docker'] as const;
export const PULL_POLICIES = ['if-not-present', 'always'] as const;

const imageRef = stringType('image reference', imageReferenceProblem);
const userData = stringType('base64, at most 16 KiB decoded', userDataProblem);
const bool = booleanType();
const credential = stringType('string', nonEmptyProblem);
const duration = stringType('duration (500ms, 30s, 30m, 2h)', durationProblem);

export const SETTINGS: readonly SettingDefinition[] = [
  // Host containers: long-running privileged or control containers on the host's containerd.
  {
    pattern: 'host-containers.<name>.enabled',
    type: bool,
    fallback: false,
    description: 'Whether the host container runs.',
    service: 'host-containers.<name>',
  },
  {
    pattern: 'host-containers.<name>.source',
    type: imageRef,
    required: true,
    description: 'Image the host container runs.',
    service: 'host-containers.<name>',
  },
  {
    pattern: 'host-containers.<name>.superpowered',
    type: bool,
    fallback: false,
    description: 'Run privileged with host PID namespace and the host root mounted (admin-style).',
    service: 'host-containers.<name>',
  },
  {
    pattern: 'host-containers.<name>.user-data',
    type: userData,
    // Secret: Bottlerocket-style user-data carries credentials (the control container's SSM activation
    // code, bootstrap scripts' join tokens), and the API socket is open to the `berth` group, not just root.
    sensitive: true,
    description: 'Opaque data written to the container\'s persistent directory as user-data.',
    service: 'host-containers.<name>',
  },
  // Bootstrap containers: run to completion before host containers start.
  {
    pattern: 'bootstrap-containers.<name>.source',
    type: imageRef,
    required: true,
    description: 'Image the bootstrap container runs.',
    service: 'bootstrap-containers.<name>',
  },
  {
    pattern: 'bootstrap-containers.<name>.mode',
    type: enumType(BOOTSTRAP_MODES),
    fallback: 'off',
    description: 'off: never run; once: run at next boot, then set to off; always: run at every boot.',
    service: 'bootstrap-containers.<name>',
  },
  {
    pattern: 'bootstrap-containers.<name>.essential',
    type: bool,
    fallback: false,
    description: 'Whether a failure of this container fails the boot.',
    service: 'bootstrap-containers.<name>',
  },
  {
    pattern: 'bootstrap-containers.<name>.user-data',
    type: userData,
    sensitive: true,
    description: 'Opaque data written to the container\'s persistent directory as user-data.',
    service: 'bootstrap-containers.<name>',
  },
  // berth policy.
  {
    pattern: 'selinux.mode',
    type: enumType(SELINUX_MODES),
    fallback: 'auto',
    description: 'auto: label containers when SELinux is enabled on the host; enforce: refuse to run without it; off: never label.',
    service: 'selinux',
  },
  {
    pattern: 'container-registry.mirrors.<mirror-registry>',
    type: listType('http(s) endpoint URLs', endpointUrlProblem),
    description: 'Mirror endpoints tried, in order, before the registry itself; "*" applies to every registry.',
    service: 'container-registry',
  },
  {
    pattern: 'container-registry.credentials.<registry>.username',
    type: credential,
    description: 'User name for the registry.',
    service: 'container-registry',
  },
  {
    pattern: 'container-registry.credentials.<registry>.password',
    type: credential,
    sensitive: true,
    description: 'Password for the registry.',
    service: 'container-registry',
  },
  {
    pattern: 'container-registry.credentials.<registry>.auth',
    type: stringType('base64 of user:password', base64Problem),
    sensitive: true,
    description: 'Docker-style auth token: base64 of "user:password".',
    service: 'container-registry',
  },
  {
    pattern: 'container-registry.credentials.<registry>.identitytoken',
    type: credential,
    sensitive: true,
    description: 'Identity (refresh) token for the registry.',
    service: 'container-registry',
  },
  {
    pattern: 'container-registry.insecure.<registry>',
    type: bool,
    fallback: false,
    description: 'Allow plain HTTP and unverified TLS for this registry.',
    service: 'container-registry',
  },
  {
    pattern: 'container-registry.ca-bundle',
    type: stringType('absolute path', absolutePathProblem),
    description: 'PEM bundle of extra CAs trusted for registries.',
    service: 'container-registry',
  },
  {
    pattern: 'workloads.runtime',
    type: enumType(WORKLOAD_RUNTIMES),
    fallback: 'containerd',
    description: 'Runtime backend for workload containers.',
    service: 'workloads',
  },
  {
    pattern: 'workloads.host-path-allow-list',
    type: listType('absolute paths', absolutePathProblem),
    fallback: [],
    description: 'Host paths (and their subtrees) workloads may bind-mount.',
    service: 'workloads',
  },
  {
    pattern: 'workloads.allowed-capabilities',
    type: listType('capability names', capabilityProblem),
    fallback: [],
    description: 'Capabilities workloads may be granted.',
    service: 'workloads',
  },
  {
    pattern: 'workloads.require-memory-limit',
    type: bool,
    fallback: false,
    description: 'Refuse workloads that do not set a memory limit.',
    service: 'workloads',
  },
  {
    pattern: 'images.pull-policy',
    type: enumType(PULL_POLICIES),
    fallback: 'if-not-present',
    description: 'if-not-present: use a cached image when there is one (works offline); always: pull on every start.',
    service: 'images',
  },
  {
    pattern: 'images.max-unpacked-size',
    type: stringType('size like 8Gi, 500Mi, 1G', sizeProblem),
    fallback: '8Gi',
    description: 'Largest size one layer of an imported image may unpack to; a larger one is refused before it is unpacked.',
    service: 'images',
  },
  // A registry is untrusted: without these a server dripping a byte every few seconds keeps a unit in
  // `preparing` forever.
  {
    pattern: 'images.pull-timeout',
    type: duration,
    fallback: '30m',
    description: 'Longest a whole image pull (resolve, download, unpack) may take before it is given up.',
    service: 'images',
  },
  {
    pattern: 'images.pull-stall-timeout',
    type: duration,
    fallback: '30s',
    description: 'A pull whose registry sends less than 1 KiB (and completes no response) for this long is given up as stalled.',
    service: 'images',
  },
];

/** One line per key for `--help` / `berthctl settings keys`. */
export function settingsHelp(): string {
  const width = Math.max(...SETTINGS.map((d) => d.pattern.length));
  return SETTINGS.map((d) => {
    const extra = d.required ? ' (required)' : d.fallback !== undefined ? ` (default ${JSON.stringify(d.fallback)})` : '';
    return `${d.pattern.padEnd(width)}  ${d.type.hint}${extra}\n${' '.repeat(width + 2)}${d.description}`;
  }).join('\n');
}
