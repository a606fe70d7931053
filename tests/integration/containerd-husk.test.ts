// Regression for chaos suite R2: containerd SIGKILLed inside Tasks.Create. Its shim lives on with no
// container; the relaunched containerd re-adopts it, so Tasks.Create says "already exists" while Tasks.Get
// says "not found". berth used to back off on that unit forever. A wrapping `runc` that hangs in `create`
// holds containerd inside Tasks.Create for as long as the test needs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { TestContainerd } from '../support/containerd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { minimalSpec } from '../support/minimal-spec.js';
import { waitFor, processAlive } from '../support/wait.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import type { ContainerLifecycle } from '../../src/containerd/lifecycle.js';
import { importArchive } from '../../src/images/import.js';
import { AlreadyExistsError } from '../../src/containerd/errors.js';

const NS = 'berth-husk';
let wrapDir: string;
let ctd: TestContainerd;
let client: ContainerdClient;
let lc: ContainerLifecycle;

before(async () => {
  wrapDir = await mkdtemp(path.join(os.tmpdir(), 'berth-runc-'));
  const realRunc = execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim();
  // `create` hangs (its pid written down) while the flag file exists; everything else is the real runc.
  await writeFile(path.join(wrapDir, 'runc'), `#!/bin/sh
for a in "$@"; do
  if [ "$a" = create ] && [ -e ${wrapDir}/hang ]; then echo $$ > ${wrapDir}/hung.pid; exec sleep 600; fi
done
exec ${realRunc} "$@"
`);
  await chmod(path.join(wrapDir, 'runc'), 0o755);
  ctd = await TestContainerd.start({ pathPrefix: wrapDir });
  client = ctd.client(NS);
  lc = ctd.lifecycle(client, NS);
  await importArchive(client, await busyboxArchive(), { namespace: NS });
});

after(async () => {
  const hung = Number(await readFile(path.join(wrapDir, 'hung.pid'), 'utf8').catch(() => '0'));
  if (hung && processAlive(hung)) process.kill(hung, 'SIGKILL');
  client?.close();
  await ctd?.stop();
  await rm(wrapDir, { recursive: true, force: true });
});

test('a task left half-created by a containerd crash is cleared and the container runs (was: "already exists" forever)', async () => {
  await lc.create({ id: 'husk', image: BUSYBOX_REF, spec: minimalSpec('husk', NS, ['/bin/sleep', '600']) });
  await writeFile(path.join(wrapDir, 'hang'), '');
  const interrupted = lc.createTask('husk', { kind: 'null' }).then(() => 'created', () => 'failed');
  const hungPidOf = async (): Promise<number> => Number((await readFile(path.join(wrapDir, 'hung.pid'), 'utf8').catch(() => '')).trim() || 0);
  await waitFor(async () => (await hungPidOf()) > 0, 20_000, 'runc create to hang');
  const hungPid = await hungPidOf();

  await ctd.kill();
  assert.equal(await interrupted, 'failed');
  await rm(path.join(wrapDir, 'hang'));
  // The shim runs runc under the request's context: containerd's death usually kills it already.
  if (processAlive(hungPid)) process.kill(hungPid, 'SIGKILL');
  await ctd.launch();

  // The state the bug came from: invisible to Get, yet in the way of Create.
  assert.equal(await lc.task('husk'), undefined);
  await assert.rejects(client.createTask({ container_id: 'husk', rootfs: [] }), AlreadyExistsError);

  const run = await lc.run('husk', { kind: 'null' });
  assert.ok(run.pid > 0);
  assert.equal((await lc.task('husk'))?.status, 'RUNNING');
  await lc.remove('husk');
  assert.equal(await lc.task('husk'), undefined);
  assert.deepEqual((await client.listContainers([])).map((c) => c.id), []);
});
