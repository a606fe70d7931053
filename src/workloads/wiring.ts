// berthd's workload half: a second Supervisor over a workload Runtime (containerd namespace
// `berth-workloads`, or a Docker engine when workloads.runtime = "docker"), its own log store, and the
// WorkloadManager in front of it. The runtime is chosen when berthd starts.
import path from 'node:path';
import type { Logger } from 'pino';
import type { ContainerdClient } from '../containerd/client.js';
import { ContainerdRuntime, containerdRuntimeDirs } from '../runtime/containerd-runtime.js';
import type { Runtime } from '../runtime/types.js';
import { ociRuntimeFamily, type SettingsStore } from '../settings/index.js';
import { specContextFactory, specPlanner } from '../ocispec/context.js';
import type { ImageSource } from '../runtime/types.js';
import { LogStore } from '../supervisor/log-store.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { ImageService } from '../images/image-service.js';
import { WorkloadManager } from './manager.js';
import type { WorkloadPolicy } from './policy.js';
import { WorkloadStore } from './store.js';

export const WORKLOAD_NAMESPACE = 'berth-workloads';
export const DEFAULT_DOCKER_SOCKET = '/run/docker.sock';

export interface WorkloadsWiring {
  stateDir: string;
  runDir: string;
  apiSocket: string;
  logger: Logger;
  settings: SettingsStore;
  selinuxActive: boolean;
  hostCapabilities: readonly string[];
  containerd: ContainerdClient;
  dockerSocket?: string;
}

export interface Workloads {
  manager: WorkloadManager;
  /** Images of the workloads namespace (containerd backend); undefined on Docker (use `docker load`). */
  images?: ImageService;
  close(): Promise<void>;
}

interface Backend {
  runtime: Runtime;
  images?: ImageService;
  close(): void;
}

async function backendFor(w: WorkloadsWiring, logs: LogStore): Promise<Backend> {
  if (w.settings.policy().workloads.runtime === 'docker') {
    // dockerode (and the ssh2 stack under it, ~20 MB resident) is loaded only on hosts that use Docker.
    const { default: Dockerode } = await import('dockerode');
    const { DockerRuntime } = await import('../runtime/docker-runtime.js');
    const { DockerImages } = await import('./docker-images.js');
    const docker = new Dockerode({ socketPath: w.dockerSocket ?? DEFAULT_DOCKER_SOCKET });
    // Same registry settings (pull policy, mirrors, credentials, time limits) as host containers.
    const images: ImageSource = new DockerImages(docker, () => w.settings.policy());
    const runtime = new DockerRuntime(docker, 'docker', logs, images);
    return { runtime, close: () => runtime.close() };
  }
  await w.containerd.createNamespace(WORKLOAD_NAMESPACE).catch(() => undefined);
  // Workload pulls used registry defaults (no mirrors, credentials, insecure hosts, CA or pull policy) until
  // the settings were passed here: they now follow the same container-registry.* and images.* keys as host containers.
  const images = new ImageService(w.containerd, WORKLOAD_NAMESPACE, path.join(w.stateDir, 'images'), () => w.settings.policy());
  const runtime = new ContainerdRuntime(w.containerd, WORKLOAD_NAMESPACE, containerdRuntimeDirs(w.runDir), logs, images, () => w.settings.family(ociRuntimeFamily).binary);
  return { runtime, images, close: () => undefined };
}

function workloadPolicy(w: WorkloadsWiring): WorkloadPolicy {
  const p = w.settings.policy().workloads;
  return {
    hostPathAllowList: p.hostPathAllowList,
    allowedCapabilities: p.allowedCapabilities,
    requireMemoryLimit: p.requireMemoryLimit,
    hostCapabilities: w.hostCapabilities,
    stateDir: w.stateDir,
    runDir: w.runDir,
    apiSocketPath: w.apiSocket,
  };
}

export async function createWorkloads(w: WorkloadsWiring): Promise<Workloads> {
  const logger = w.logger.child({ part: 'workloads' });
  const logs = new LogStore(path.join(w.stateDir, 'workloads', 'logs'), {
    onWriteError: (unit, err) => logger.warn({ workload: unit, err: err.message }, 'workload log write failed'),
  });
  const store = await WorkloadStore.open(w.stateDir);
  const backend = await backendFor(w, logs);
  let manager: WorkloadManager | undefined;
  const supervisor = new Supervisor({
    runtime: backend.runtime,
    logs,
    logger,
    bootstrapMarkers: { done: async () => false, mark: async () => undefined },
  });
  const plan = specPlanner(specContextFactory(
    { namespace: backend.runtime.namespace, stateDir: w.stateDir, runDir: w.runDir, apiSocketPath: w.apiSocket, selinuxActive: w.selinuxActive, hostCapabilities: w.hostCapabilities },
    () => {
      const policy = w.settings.policy();
      // The effective set is capped by policy: what the class grants, plus adds, within the allowed list.
      return { selinuxMode: policy.selinuxMode, hostPathAllowList: policy.workloads.hostPathAllowList, capabilityCap: policy.workloads.allowedCapabilities };
    },
    (unit) => manager?.mcsOf(unit.name),
  ));
  manager = new WorkloadManager({ store, supervisor, plan, policy: () => workloadPolicy(w), runtime: backend.runtime.name === 'docker' ? 'docker' : 'containerd', namespace: backend.runtime.namespace, logger, logs });
  const m = manager;
  const unsubscribe = w.settings.onCommit(() => void m.settingsChanged().catch((e: unknown) => logger.error({ err: String(e) }, 'planning workloads after a settings commit failed')));
  return {
    manager: m,
    ...(backend.images ? { images: backend.images } : {}),
    close: async () => {
      unsubscribe();
      m.close();
      backend.close();
      await logs.close();
    },
  };
}
