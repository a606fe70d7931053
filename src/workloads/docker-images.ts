// Images for Docker-run workloads, with the same registry settings as host containers: the pull policy,
// credentials (passed to the engine as the pull's authconfig), mirrors (pulled from, then tagged as the
// reference asked for), the pull deadline and stall timeout, and cancellation when the workload is stopped.
// Plain HTTP and CAs are the engine's own configuration (`insecure-registries`, /etc/docker/certs.d): a
// Docker pull cannot be told per call.
import type Dockerode from 'dockerode';
import { basicCredentials, registryConfig } from '../images/registry/config.js';
import { parseReference, type ImageReference } from '../images/registry/reference.js';
import { PullWatch } from '../images/registry/watch.js';
import type { PolicySettings, RegistryCredentials } from '../settings/index.js';
import type { ImageConfig } from '../ocispec/types.js';
import { SharedTasks } from '../util/shared-task.js';

export class DockerImageMissingError extends Error {
  override readonly name = 'DockerImageMissingError';
  constructor(readonly ref: string) {
    super(`image ${ref} is not present in the Docker engine; load it with \`docker load\` first`);
  }
}

/** One line of the engine's pull progress stream. */
interface PullEvent {
  id?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  progressDetail?: { current?: number; total?: number };
}

/** The engine's authconfig (X-Registry-Auth) for credentials from the settings. */
export function dockerAuthConfig(creds: RegistryCredentials | undefined, serveraddress: string): Record<string, string> | undefined {
  if (!creds) return undefined;
  if (creds.identityToken) return { identitytoken: creds.identityToken, serveraddress };
  const basic = basicCredentials(creds);
  return basic ? { username: basic.username, password: basic.password, serveraddress } : undefined;
}

const tagOf = (r: ImageReference): string => r.tag ?? 'latest';

export class DockerImages {
  private readonly known = new Map<string, ImageConfig>();
  private readonly inflight = new SharedTasks<ImageConfig>();

  /** `policy`: the same settings host containers use; without it images must already be in the engine. */
  constructor(private readonly docker: Dockerode, private readonly policy?: () => PolicySettings) {}

  ensure(ref: string, onProgress?: (message: string) => void, signal?: AbortSignal): Promise<{ config: ImageConfig; snapshotParent: string }> {
    const policy = this.policy?.();
    const always = policy?.images.pullPolicy === 'always';
    const known = always ? undefined : this.known.get(ref);
    if (known) return Promise.resolve({ config: known, snapshotParent: '' });
    return this.inflight.run(ref, `pull of ${ref}`, async ({ signal: shared, progress }) => {
      let config = always ? undefined : await this.inspect(ref);
      if (!config) {
        if (!policy) throw new DockerImageMissingError(ref);
        await this.pull(ref, policy, progress, shared);
        config = await this.inspect(ref);
        if (!config) throw new DockerImageMissingError(ref);
      }
      this.known.set(ref, config);
      return config;
    }, onProgress, signal).then((config) => ({ config, snapshotParent: '' }));
  }

  forget(ref: string): void {
    this.known.delete(ref);
  }

  private async inspect(ref: string): Promise<ImageConfig | undefined> {
    let info: Dockerode.ImageInspectInfo;
    try {
      info = await this.docker.getImage(ref).inspect();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
    const c = info.Config as typeof info.Config & { StopSignal?: string };
    return {
      env: c.Env ?? [],
      entrypoint: typeof c.Entrypoint === 'string' ? [c.Entrypoint] : (c.Entrypoint ?? []),
      cmd: c.Cmd ?? [],
      workingDir: c.WorkingDir ?? '',
      user: c.User ?? '',
      ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
    };
  }

  /** Mirrors in order, then the registry itself, as the containerd puller does; the first success wins. */
  private async pull(ref: string, policy: PolicySettings, progress: (m: string) => void, signal: AbortSignal): Promise<void> {
    const parsed = parseReference(ref);
    const registry = registryConfig(policy.containerRegistry);
    const watch = new PullWatch({
      ref: parsed.name,
      signal,
      ...(policy.images.pullTimeoutMs !== undefined ? { timeoutMs: policy.images.pullTimeoutMs } : {}),
      ...(policy.images.pullStallTimeoutMs !== undefined ? { stallTimeoutMs: policy.images.pullStallTimeoutMs } : {}),
    });
    const failures: string[] = [];
    const tried = new Set<string>();
    try {
      for (const ep of registry.endpoints(parsed.domain)) {
        // A pinned digest cannot be re-tagged, so it comes from the registry itself.
        if (ep.mirror && parsed.digest) continue;
        // The engine picks http or https itself; a mirror's path prefix is part of its repository name.
        const prefix = new URL(ep.base).pathname.replace(/^\/+|\/+$/g, '');
        const source = ep.mirror ? `${ep.host}/${prefix ? `${prefix}/` : ''}${parsed.repository}` : `${parsed.domain}/${parsed.repository}`;
        const from = parsed.digest ? `${source}@${parsed.digest}` : `${source}:${tagOf(parsed)}`;
        // An insecure registry is listed as https and http; to the engine both are the same name.
        if (tried.has(from)) continue;
        tried.add(from);
        try {
          await this.pullOne(from, dockerAuthConfig(registry.credentials(ep.host), ep.host), watch, progress);
        } catch (e) {
          if (watch.signal.aborted) throw watch.explain(e);
          failures.push(`${ep.mirror ? 'mirror ' : ''}${ep.host}: ${e instanceof Error ? e.message : String(e)}`);
          continue;
        }
        if (ep.mirror) await this.docker.getImage(from).tag({ repo: `${parsed.domain}/${parsed.repository}`, tag: tagOf(parsed) });
        // The workload's container names the image as written: make sure that name resolves too.
        if (!(await this.inspect(ref)) && !parsed.digest) await this.docker.getImage(from).tag({ repo: ref.replace(/:[^:/]+$/, ''), tag: tagOf(parsed) });
        return;
      }
    } finally {
      watch.close();
    }
    throw new Error(`docker pull of ${parsed.name} failed: ${failures.join('; ') || 'no registry endpoint'}`);
  }

  private async pullOne(from: string, authconfig: Record<string, string> | undefined, watch: PullWatch, progress: (m: string) => void): Promise<void> {
    const end = watch.begin();
    try {
      const stream = await this.docker.pull(from, { ...(authconfig ? { authconfig } : {}), abortSignal: watch.signal });
      // The engine reports bytes per layer as "current"; their growth feeds the stall watch.
      const seen = new Map<string, number>();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
          reject(watch.explain(new Error('aborted')));
        };
        watch.signal.addEventListener('abort', onAbort, { once: true });
        this.docker.modem.followProgress(stream, (err: Error | null, events: PullEvent[]) => {
          watch.signal.removeEventListener('abort', onAbort);
          const failed = events.find((ev) => ev.error || ev.errorDetail?.message);
          if (err) reject(err);
          else if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
          else resolve();
        }, (ev: PullEvent) => {
          const current = ev.progressDetail?.current;
          if (ev.id && typeof current === 'number') {
            const before = seen.get(ev.id) ?? 0;
            if (current > before) watch.bytes(current - before);
            seen.set(ev.id, current);
          }
          if (ev.status) progress(`pulling ${from}: ${ev.id ? `${ev.id}: ` : ''}${ev.status}`);
        });
      });
    } finally {
      end();
    }
  }
}
