// Issue 14 items 4 and 6 against a real berthd and containerd: oversized requests are refused at once
// (naming the field) while other calls keep being answered, deep documents are INVALID_ARGUMENT (never
// INTERNAL), a workload with 4,096 variables runs, and `berthctl workloads ls` works with a >5 MB list.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { busyboxArchive, BUSYBOX_REF } from '../support/images.js';
import { IDLE } from '../support/units.js';
import { withDeadline } from '../support/wait.js';
import { importArchive } from '../../src/images/import.js';
import { berthClientConstructor } from '../../src/wire/proto.js';
import { BerthClient, ApiError, type WorkloadRequest } from '../../src/cli/client.js';
import { WORKLOAD_NAMESPACE } from '../../src/workloads/wiring.js';
import { DEPTH_MESSAGE } from '../../src/util/depth.js';

const execFileP = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');
const MiB = 1024 * 1024;
// Seven workloads of ~960 KB each (32 variables of 30,000 bytes, within every limit): ~6.7 MB in total.
const BIG_COUNT = 7;

function request(name: string, over: Partial<WorkloadRequest> = {}): WorkloadRequest {
  return {
    name, image: BUSYBOX_REF, command: ['/bin/sh', '-c', IDLE], env: {}, memoryBytes: 64 * MiB, mounts: [], restart: 'always',
    capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [], ...over,
  };
}

function bigEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < 32; i++) env[`BIG_${i}`] = String(i % 10).repeat(30_000);
  return env;
}

const isInvalid = (field: string, message?: string) => (e: unknown): boolean =>
  e instanceof ApiError && e.code === grpc.status.INVALID_ARGUMENT && e.message.startsWith(`${field}: `) && (message === undefined || e.message.includes(message));

describe('request limits on a live berthd', { concurrency: false }, () => {
  let ctd: TestContainerd;
  let b: TestBerthd;
  let client: BerthClient;

  before(async () => {
    ctd = await TestContainerd.start();
    const c = ctd.client(WORKLOAD_NAMESPACE);
    try {
      await importArchive(c, await busyboxArchive(), { namespace: WORKLOAD_NAMESPACE });
    } finally {
      c.close();
    }
    b = await TestBerthd.create({ containerd: ctd });
    // The big list is put in the workload store before berthd starts: stopped workloads, so nothing runs.
    await mkdir(b.stateDir, { recursive: true });
    const workloads = Array.from({ length: BIG_COUNT }, (_, i) => ({
      request: request(`big-${i}`, { env: bigEnv() }), mcs: [10 + 2 * i, 11 + 2 * i], desired: 'stopped', createdAt: new Date().toISOString(),
    }));
    await writeFile(path.join(b.stateDir, 'workloads.json'), JSON.stringify({ version: 1, workloads }));
    await b.start(60_000);
    client = BerthClient.connect({ socketPath: b.socket });
  });

  after(async () => {
    client?.close();
    await b?.stop();
    await ctd?.stop();
  });

  it('berthctl workloads ls lists a >5 MB workload list (paged); an unpaged List says to page', async () => {
    const { stdout } = await execFileP(process.execPath, [CLI, '--socket', b.socket, 'workloads', 'ls'], { timeout: 60_000, maxBuffer: 64 * MiB });
    const names = stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(names, Array.from({ length: BIG_COUNT }, (_, i) => `big-${i}`));
    const json = await execFileP(process.execPath, [CLI, '--socket', b.socket, '-o', 'json', 'workloads', 'ls'], { timeout: 60_000, maxBuffer: 64 * MiB });
    assert.ok(json.stdout.length > 5_000_000, `JSON output of ${json.stdout.length} bytes`);
    const listed = JSON.parse(json.stdout) as Array<{ request: { env: Record<string, string> } }>;
    assert.equal(listed.length, BIG_COUNT);
    assert.deepEqual(listed[3]!.request.env, bigEnv());

    // An older client (no page_size) gets a clear RESOURCE_EXHAUSTED rather than a message it cannot receive.
    const Ctor = berthClientConstructor('Workloads');
    const raw = new Ctor(`unix://${b.socket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => raw.List!({}, (e: grpc.ServiceError | null) => resolve(e)));
      assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED, String(err?.message));
      assert.match(err?.details ?? '', /ask for pages/);
    } finally {
      raw.close();
    }
  });

  it('a 30,000-variable request is INVALID_ARGUMENT naming env, while a status call is answered; nothing is created', async () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 30_000; i++) env[`VAR_${i}`] = `value-${i}`;
    const big = client.workloads.run(request('huge-env', { env }));
    const status = withDeadline(client.units.list(), 10_000, 'a units list during the oversized request');
    const [bigResult, statusResult] = await Promise.allSettled([big, status]);
    assert.equal(statusResult.status, 'fulfilled', String(statusResult.status === 'rejected' && statusResult.reason));
    assert.equal(bigResult.status, 'rejected');
    assert.ok(bigResult.status === 'rejected' && isInvalid('env', 'at most 4096 variables, got 30000')(bigResult.reason), String(bigResult.status === 'rejected' && bigResult.reason));
    await assert.rejects(client.workloads.get('huge-env'), (e: unknown) => e instanceof ApiError && e.code === grpc.status.NOT_FOUND);
  });

  it('each other limit is INVALID_ARGUMENT naming its field', async () => {
    const cases: Array<[Partial<WorkloadRequest>, string]> = [
      [{ env: { FOO: 'x'.repeat(70_000) } }, 'env.FOO'],
      [{ command: Array(30_000).fill('x') }, 'command'],
      [{ mounts: Array(300).fill({ source: '/srv', destination: '/d', readOnly: true }) }, 'mounts'],
      [{ capAdd: Array(300).fill('CHOWN') }, 'cap_add'],
      [{ devices: Array(300).fill('/dev/null') }, 'devices'],
    ];
    for (const [over, field] of cases) {
      await assert.rejects(client.workloads.run(request('too-big', over)), isInvalid(field), field);
    }
  });

  it('a workload with 4,096 variables runs and sees them', async () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 4096; i++) env[`VAR_${i}`] = `value-${i}`;
    await client.workloads.run(request('many-env', { env, command: ['/bin/sh', '-c', `echo "last=$VAR_4095 first=$VAR_0"; ${IDLE}`] }));
    await withDeadline((async () => {
      for (;;) {
        const lines: string[] = [];
        for await (const l of client.workloads.logs('many-env')) lines.push(l.line);
        if (lines.includes('last=value-4095 first=value-0')) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(), 60_000, 'many-env to print its variables');
    await client.workloads.remove('many-env');
  });

  it('deep documents over the API are INVALID_ARGUMENT with the depth message; settings unchanged', async () => {
    const before = JSON.stringify(await client.settings.get());
    const n = 10_000;
    const deep = {
      tomlHeaders: `[settings.${Array(n).fill('a').join('.')}]\nx = 1\n`,
      tomlArrayTables: `[[settings.${Array(n).fill('a').join('.')}]]\nx = 1\n`,
      tomlInline: `[settings]\nx = ${'{a = '.repeat(n)}1${' }'.repeat(n)}\n`,
      json: `{"settings":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`,
    };
    for (const doc of [deep.tomlHeaders, deep.tomlArrayTables, deep.tomlInline]) {
      await assert.rejects(client.settings.apply(doc, 'toml'), isInvalid('document', DEPTH_MESSAGE));
    }
    await assert.rejects(client.settings.apply(deep.json, 'json'), isInvalid('document', DEPTH_MESSAGE));
    await assert.rejects(client.settings.setJson(deep.json), isInvalid('json', DEPTH_MESSAGE));
    await assert.rejects(client.settings.set({ 'workloads.host-path-allow-list': `${'['.repeat(n)}${']'.repeat(n)}` }),
      isInvalid('workloads.host-path-allow-list', DEPTH_MESSAGE));
    assert.equal(JSON.stringify(await client.settings.get()), before);
    assert.ok((await client.host.version()).berthVersion !== '');
  });
});
