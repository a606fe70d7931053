// The containerd backend for workloads: berth's ContainerdRuntime in its own namespace, with the
// container's cgroups visible inside (so a workload can read its own limits).
import { ContainerdRuntime } from '../runtime/containerd-runtime.js';
import type { OciSpec } from '../spec/types.js';
import { withCgroupMount } from './cgroup-mount.js';

export class WorkloadContainerdRuntime extends ContainerdRuntime {
  override create(id: string, image: string, spec: object, labels: Record<string, string>, parent?: string): Promise<void> {
    return super.create(id, image, withCgroupMount(spec as OciSpec), labels, parent);
  }
}
