// oci-runtime.*: which OCI runtime the containerd shim runs for berth's containers (runc or crun).

import { z } from 'zod';
import { family, settingMeta } from '../model.js';
import { absolutePathProblem, stringValue } from '../values.js';

/** The runtimes known by name; anything else is given as an absolute path to its executable. */
export const OCI_RUNTIME_NAMES = ['runc', 'crun'] as const;

export function ociRuntimeBinaryProblem(value: string): string | undefined {
  if ((OCI_RUNTIME_NAMES as readonly string[]).includes(value)) return undefined;
  // The store appends the offending value to the message.
  const expected = `expected ${OCI_RUNTIME_NAMES.join(' or ')}, or an absolute path to an OCI runtime executable`;
  if (!value.startsWith('/') || value === '/') return expected;
  return absolutePathProblem(value);
}

export const ociRuntime = z.object({
  binary: stringValue(`${OCI_RUNTIME_NAMES.join('|')}|absolute path`, ociRuntimeBinaryProblem).prefault('runc').register(settingMeta, {
    // Not a spec change: running units keep their runtime until they are next started (restart, a crash,
    // a spec change), as with selinux.mode; restarting every container on one commit would be the surprise.
    description: 'OCI runtime the containerd shim runs for containers created from now on: runc, crun, or an absolute path to a runc-compatible binary. Running containers keep theirs until their next start. Docker workloads are unaffected.',
  }),
});

export type OciRuntimeSettings = z.output<typeof ociRuntime>;

export const ociRuntimeFamily = family('oci-runtime', ociRuntime);
