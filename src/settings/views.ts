// Typed views of the effective settings for the rest of berth (supervisor, spec builder, image puller), so
// they never handle dotted keys or guess at types: the flat stored values of one family are put back into
// the shape of its schema and parsed by it, which fills in fallbacks (`.prefault`) and turns stored text
// into what readers use (milliseconds, bytes). The results are the schemas' z.output types.

import type { z } from 'zod';
import {
  bootstrapContainersFamily,
  containerRegistryFamily,
  hostContainersFamily,
  imagesFamily,
  selinuxFamily,
  workloadsFamily,
  type BootstrapContainerSettings,
  type ContainerRegistrySettings,
  type HostContainerSettings,
  type ImagesSettings,
  type SelinuxMode,
  type WorkloadsSettings,
} from './families/index.js';
import { resolveKey } from './keys.js';
import { INSTANCE, type SettingsFamily } from './model.js';
import { SETTINGS } from './registry.js';
import type { SettingsMap } from './state.js';

type Node = Map<string, unknown> | Record<string, unknown>;

function child(node: Node, name: string): unknown {
  // hasOwn: a property name such as `constructor` must not find Object.prototype's.
  return node instanceof Map ? node.get(name) : Object.hasOwn(node, name) ? node[name] : undefined;
}

function put(node: Node, name: string, value: unknown): void {
  if (node instanceof Map) node.set(name, value);
  // defineProperty: a segment is data, never a prototype (names are validated; this is belt and braces).
  else Object.defineProperty(node, name, { value, enumerable: true, writable: true, configurable: true });
}

/** Families that are a set of instances (host containers): their input is a Map even when empty. */
const INSTANCE_ROOTED = new Set(SETTINGS.filter((d) => d.at[0] === INSTANCE).map((d) => d.family));

/** The family's input as its schema expects it: objects for fixed segments, Maps (in key order) for instances. */
function familyInput(effective: SettingsMap, family: SettingsFamily): Node {
  const root: Node = INSTANCE_ROOTED.has(family) ? new Map() : {};
  const prefix = `${family.name}.`;
  for (const [key, value] of effective) {
    if (!key.startsWith(prefix)) continue;
    const resolution = resolveKey(key);
    if (!resolution.ok || resolution.value.definition.family !== family) continue;
    const { definition, instance } = resolution.value;
    const names = definition.at.map((step) => (step === INSTANCE ? (instance ?? '') : step));
    let node: Node = root;
    names.forEach((name, i) => {
      if (i === names.length - 1) return put(node, name, value);
      // Only Nodes are put at positions that are not a leaf.
      let next = child(node, name) as Node | undefined;
      if (next === undefined) put(node, name, (next = definition.at[i + 1] === INSTANCE ? new Map() : {}));
      node = next;
    });
  }
  return root;
}

/** One family's typed view. Values were validated on the way in, so a failure is a programming error. */
export function readFamily<S extends z.ZodType>(effective: SettingsMap, family: SettingsFamily<S>): z.output<S> {
  const parsed = family.schema.safeParse(familyInput(effective, family));
  if (!parsed.success) {
    // Paths only: a value may be a secret.
    const where = parsed.error.issues.map((i) => [family.name, ...i.path.map(String)].join('.')).join(', ');
    throw new Error(`settings: stored ${family.name} settings do not fit their schema at ${where}`);
  }
  return parsed.data;
}

export function hostContainersOf(effective: SettingsMap): Map<string, HostContainerSettings> {
  return readFamily(effective, hostContainersFamily);
}

export function bootstrapContainersOf(effective: SettingsMap): Map<string, BootstrapContainerSettings> {
  return readFamily(effective, bootstrapContainersFamily);
}

/** The families berth's own policy reads (spec building, pulls, workloads), as one value. */
export interface PolicySettings {
  readonly selinuxMode: SelinuxMode;
  readonly containerRegistry: ContainerRegistrySettings;
  readonly workloads: WorkloadsSettings;
  readonly images: ImagesSettings;
}

export function policyOf(effective: SettingsMap): PolicySettings {
  return {
    selinuxMode: readFamily(effective, selinuxFamily).mode,
    containerRegistry: readFamily(effective, containerRegistryFamily),
    workloads: readFamily(effective, workloadsFamily),
    images: readFamily(effective, imagesFamily),
  };
}
