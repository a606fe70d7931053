// Workload images are pulled with the same registry settings as host containers (issue 14, item 9): a
// workload whose image names a registry that does not exist (`registry.invalid`) runs because
// container-registry.mirrors sends the pull to a local docker-registry, which requires the basic-auth
// credentials from container-registry.credentials. On both backends: berth's own puller into containerd,
// and the Docker engine (mirror pulled with the credentials as authconfig, then tagged as asked).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { TestDockerd } from '../support/dockerd.js';
import { TestRegistry, buildLayout, busyboxLayers, htpasswd } from '../support/registry.js';
import { IDLE } from '../support/units.js';
import { withDeadline } from '../support/wait.js';
import { BerthClient, type WorkloadInfo, type WorkloadRequest } from '../../src/cli/client.js';

const REF = 'registry.invalid/test/app:v1';
const BACKENDS = (process.env.BERTH_WORKLOAD_BACKENDS ?? 'containerd,docker').split(',');

async function waitWorkload(client: BerthClient, name: string, pred: (w: WorkloadInfo) => boolean, timeoutMs: number, what: string): Promise<WorkloadInfo> {
  let last: WorkloadInfo | undefined;
  const run = (async () => {
    for (;;) {
      last = await client.workloads.get(name).catch(() => undefined);
      if (last && pred(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return await withDeadline(run, timeoutMs, `${name}: ${what}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last: ${JSON.stringify(last?.status)}`);
  }
}

let work: string;
let reg: TestRegistry;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bwlpull-'));
  const users = path.join(work, 'htpasswd');
  await htpasswd(users, 'robot', 'hunter2');
  reg = await TestRegistry.start({ htpasswd: users });
  const app = await buildLayout(path.join(work, 'app'), [{ architecture: 'amd64', layers: busyboxLayers(1), cmd: ['/bin/sh'] }]);
  await reg.push(app.dir, 'test/app', 'v1', { creds: 'robot:hunter2' });
});

after(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

for (const which of (['containerd', 'docker'] as const).filter((b) => BACKENDS.includes(b))) {
  describe(`workload image pulls on ${which}`, () => {
    let ctd: TestContainerd;
    let dockerd: TestDockerd | undefined;
    let b: TestBerthd;
    let client: BerthClient;

    before(async () => {
      ctd = await TestContainerd.start();
      if (which === 'docker') dockerd = await TestDockerd.start();
      b = await TestBerthd.create({ containerd: ctd, extraArgs: dockerd ? ['--docker-socket', dockerd.socket] : [] });
      await writeFile(b.settingsDefaults, `[settings.selinux]
mode = "auto"
[settings.workloads]
runtime = "${which}"
[settings.container-registry.mirrors]
"registry.invalid" = ["http://${reg.host}"]
[settings.container-registry.insecure]
"${reg.host}" = true
[settings.container-registry.credentials."${reg.host}"]
username = "robot"
password = "hunter2"
`);
      await b.start();
      client = BerthClient.connect({ socketPath: b.socket });
    });

    after(async () => {
      client?.close();
      await b?.stop();
      await dockerd?.stop();
      await ctd?.stop();
    });

    it('runs a workload whose image comes through the configured mirror, with the configured credentials', async () => {
      const req: WorkloadRequest = {
        name: 'pulled', image: REF, command: ['/bin/sh', '-c', IDLE], env: {}, mounts: [], restart: 'always',
        capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [],
      };
      await client.workloads.run(req);
      const w = await waitWorkload(client, 'pulled', (x) => x.status.state === 'running', 90_000, 'running from the mirrored image');
      assert.equal(w.status.image, REF);
      await client.workloads.remove('pulled');
    });
  });
}
