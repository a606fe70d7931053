// Small things a newcomer hits first (issue 16.3): the README's validate example works on a fresh clone,
// `units -o json` is not a wall of events (status --events N shows more), and a unit image that was never
// imported says so and how to import it instead of backing off against https://localhost.
import assert from 'node:assert/strict';
import { exec } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import type { ContainerdClient } from '../../src/containerd/client.js';
import { NotFoundError } from '../../src/containerd/errors.js';
import { ImageMissingError, ImageService } from '../../src/images/image-service.js';
import type { PullProgress } from '../../src/images/pull-progress.js';
import { notFound } from '../../src/images/registry/errors.js';
import type { UnitEvent } from '../../src/wire/index.js';
import { FakeImages, FakeSettings, FakeSupervisor, fakeHost, fakeUnit } from '../support/api-fakes.js';
import { runCli, type CliResult } from '../support/cli.js';

const MAIN = fileURLToPath(new URL('../../berthctl/berthctl.cjs', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

function berthctl(args: string[], socket: string): Promise<CliResult> {
  return runCli(['--socket', socket, ...args]);
}

test("the README's validate example passes on a fresh clone", async () => {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const line = /^berthctl (validate [^#\n]+?)\s*(?:#.*)?$/m.exec(readme);
  assert.ok(line?.[1], 'README shows a validate example');
  // Through sh, as a reader would type it: the globs must match files the repository ships.
  const { stdout } = await promisify(exec)(`"${process.execPath}" "${MAIN}" ${line[1]}`, { cwd: REPO });
  assert.match(stdout, /admin\.toml: ok \(unit\)/);
});

describe('events in units and status', () => {
  let dir: string;
  let server: ApiServer;
  const events: UnitEvent[] = Array.from({ length: 55 }, (_, i) => ({ at: `2024-01-01T00:00:${String(i).padStart(2, '0')}.000Z`, state: 'running', message: `event ${i}` }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-newcomer-'));
    server = await startApiServer({
      socketPath: join(dir, 'api.sock'),
      supervisor: new FakeSupervisor([fakeUnit('admin', { events })]),
      settings: new FakeSettings(), images: new FakeImages(), host: fakeHost(),
    });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('units -o json gives the last 5 events of each unit', async () => {
    const r = await berthctl(['-o', 'json', 'units'], server.socketPath);
    assert.equal(r.code, 0, r.stderr);
    const [admin] = JSON.parse(r.stdout) as { events: UnitEvent[] }[];
    assert.deepEqual(admin?.events.map((e) => e.message), ['event 50', 'event 51', 'event 52', 'event 53', 'event 54']);
  });

  test('status shows the last 10 events, --events N more or fewer', async () => {
    const r = await berthctl(['status', 'admin'], server.socketPath);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/ event \d+$/gm)?.length, 10);
    assert.match(r.stdout, / event 45\n[\s\S]* event 54\n$/);
    const more = await berthctl(['-o', 'json', 'status', 'admin', '--events', '30'], server.socketPath);
    assert.equal((JSON.parse(more.stdout) as { events: UnitEvent[] }).events.length, 30);
    const none = await berthctl(['status', 'admin', '--events', '0'], server.socketPath);
    assert.doesNotMatch(none.stdout, /events:/);
  });
});

describe('an image that is not in the store', () => {
  // containerd that has no images at all.
  const empty = {
    getImage: (name: string) => Promise.reject(new NotFoundError(`image "${name}": not found`, 5, 'GetImage')),
  } as unknown as ContainerdClient;

  /** Records pulls instead of reaching a registry; `fail` says how the registry answers. */
  class Recording extends ImageService {
    readonly pulls: string[] = [];
    fail: Error = notFound('manifest unknown');
    override pull(ref: string, _onProgress?: (p: PullProgress) => void): ReturnType<ImageService['pull']> {
      this.pulls.push(ref);
      return Promise.reject(this.fail);
    }
  }

  test('localhost/… is never pulled from https://localhost: the error says how to import it', async () => {
    const images = new Recording(empty, 'berth-test', tmpdir());
    await assert.rejects(images.ensure('localhost/app:1'), (e: Error) => {
      assert.ok(e instanceof ImageMissingError);
      assert.match(e.message, /^image localhost\/app:1 is not in berth's image store \(localhost is not a registry berth pulls from\); import it with `berthctl images import FILE --ref localhost\/app:1`$/);
      return true;
    });
    assert.deepEqual(images.pulls, []);
  });

  test('a ref without a registry host the registry does not know: the registry answer and the import hint', async () => {
    const images = new Recording(empty, 'berth-test', tmpdir());
    await assert.rejects(images.ensure('myapp:1'), (e: Error) => {
      assert.ok(e instanceof ImageMissingError);
      assert.match(e.message, /not in berth's image store \(the registry says: manifest unknown\); import it with `berthctl images import FILE --ref myapp:1`/);
      return true;
    });
    assert.deepEqual(images.pulls, ['myapp:1']);
  });

  test('a registry host (or a local registry with a port) is pulled, and its errors are its own', async () => {
    const images = new Recording(empty, 'berth-test', tmpdir());
    await assert.rejects(images.ensure('registry.example.com/team/app:1'), (e: Error) => e.message === 'manifest unknown' && !(e instanceof ImageMissingError));
    await assert.rejects(images.ensure('localhost:5000/app:1'), (e: Error) => !(e instanceof ImageMissingError));
    assert.deepEqual(images.pulls, ['registry.example.com/team/app:1', 'localhost:5000/app:1']);
  });
});
