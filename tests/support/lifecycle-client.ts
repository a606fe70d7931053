// A containerd client with just the calls ContainerLifecycle.create + createTask make, recording what the
// container record and every Tasks.Create carried (runc root, runtime binary). Shared by the runc-root and
// oci-runtime unit tests.
import type { ContainerdClient } from '../../src/containerd/client.js';
import type { AnyMessage } from '../../src/containerd/codec.js';
import type { Container, Mount } from '../../src/containerd/types.js';

export /** The client calls create + createTask make; records what the container and Tasks.Create carried. */
function fakeClient(): { client: ContainerdClient; containers: Map<string, Container>; taskOptions: (AnyMessage | undefined)[] } {
  const containers = new Map<string, Container>();
  const taskOptions: (AnyMessage | undefined)[] = [];
  const fake = {
    namespace: 'berth',
    async createContainer(c: Container): Promise<Container> {
      containers.set(c.id, c);
      return c;
    },
    async prepareSnapshot(): Promise<Mount[]> {
      return [];
    },
    async snapshotMounts(): Promise<Mount[]> {
      return [];
    },
    async getContainer(id: string): Promise<Container> {
      const c = containers.get(id);
      if (!c) throw new Error(`no container ${id}`);
      return c;
    },
    async createTask(req: { options?: AnyMessage }): Promise<number> {
      taskOptions.push(req.options);
      return 4242;
    },
  };
  return { client: fake as unknown as ContainerdClient, containers, taskOptions };
}
