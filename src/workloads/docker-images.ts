// Images for Docker-run workloads: present in the Docker engine (`docker load`/`docker pull` by the
// operator), read for their config. berth does not pull into Docker on its own.
import type Dockerode from 'dockerode';
import type { ImageConfig } from '../spec/types.js';

export class DockerImageMissingError extends Error {
  override readonly name = 'DockerImageMissingError';
  constructor(readonly ref: string) {
    super(`image ${ref} is not present in the Docker engine; load it with \`docker load\` first`);
  }
}

export class DockerImages {
  private readonly known = new Map<string, ImageConfig>();

  constructor(private readonly docker: Dockerode) {}

  async ensure(ref: string): Promise<{ config: ImageConfig; snapshotParent: string }> {
    let config = this.known.get(ref);
    if (!config) {
      let info: Dockerode.ImageInspectInfo;
      try {
        info = await this.docker.getImage(ref).inspect();
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) throw new DockerImageMissingError(ref);
        throw e;
      }
      const c = info.Config as typeof info.Config & { StopSignal?: string };
      config = {
        env: c.Env ?? [],
        entrypoint: typeof c.Entrypoint === 'string' ? [c.Entrypoint] : (c.Entrypoint ?? []),
        cmd: c.Cmd ?? [],
        workingDir: c.WorkingDir ?? '',
        user: c.User ?? '',
        ...(c.StopSignal ? { stopSignal: c.StopSignal } : {}),
      };
      this.known.set(ref, config);
    }
    return { config, snapshotParent: '' };
  }

  forget(ref: string): void {
    this.known.delete(ref);
  }
}
