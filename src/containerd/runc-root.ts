// Where runc keeps its container state. The runc v2 shim runs `runc --root <root>/<namespace>`, and the
// default root, /run/containerd/runc, is shared by every containerd on the host: two containerds using the
// same namespace and container id (a second berth, the test suite) would then run runc on one state dir and
// delete or kill each other's containers. berth therefore gives the shim a root of its own.
import path from 'node:path';
import { decodeProtoAny, protoAny, RUNC_OPTIONS_TYPE_URL, type AnyMessage } from './codec.js';

/** What the shim uses when the options name no root (containers made by a berth before roots were set). */
export const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

/**
 * The runc v2 shim options (`containerd.runc.v1.Options`) naming `root` and, when not empty, `binary_name`:
 * the OCI runtime the shim runs instead of `runc` (crun takes the same command line for what the shim uses).
 * Empty leaves the field out, so the default is the bytes berth always sent.
 */
export function runcOptions(root: string, binaryName = ''): AnyMessage {
  if (!path.isAbsolute(root)) throw new Error(`runc root must be an absolute path, got ${JSON.stringify(root)}`);
  return protoAny(RUNC_OPTIONS_TYPE_URL, { root: path.normalize(root), ...(binaryName === '' ? {} : { binary_name: binaryName }) });
}

/** The OCI runtime binary recorded in a container's runtime options; '' (the shim's `runc`) when none. */
export function runcBinaryOf(options: AnyMessage | null | undefined): string {
  if (!options || options.type_url !== RUNC_OPTIONS_TYPE_URL || options.value.length === 0) return '';
  const name = decodeProtoAny(options)?.binary_name;
  return typeof name === 'string' ? name : '';
}

/**
 * The runc root recorded in a container's runtime options: DEFAULT_RUNC_ROOT when there are none, they are
 * empty, or of another type (what the shim falls back to as well).
 */
export function runcRootOf(options: AnyMessage | null | undefined): string {
  if (!options || options.type_url !== RUNC_OPTIONS_TYPE_URL || options.value.length === 0) return DEFAULT_RUNC_ROOT;
  const root = decodeProtoAny(options)?.root;
  return typeof root === 'string' && root !== '' ? root : DEFAULT_RUNC_ROOT;
}

/** The dir runc keeps one container's state in (its `state.json`). */
export function runcStateDir(root: string, namespace: string, id: string): string {
  return path.join(root, namespace, id);
}
