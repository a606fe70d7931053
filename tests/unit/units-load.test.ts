// loadUnits: directory order, overrides, file/name checks and dependency checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_UNIT_DIRS, bootstrapRunOrder, formatUnitError, loadUnits } from '../../src/units/index.js';

function unitText(name: string, extra = '', cls = 'host'): string {
  const boot = cls === 'bootstrap' ? '[bootstrap]\nmode = "once"\n' : '';
  return `name = "${name}"\nclass = "${cls}"\nimage = "localhost/berth/${name}:1"\n${extra}${boot}`;
}

async function withDirs(fn: (vendor: string, admin: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-units-'));
  try {
    const vendor = join(root, 'vendor');
    const admin = join(root, 'admin');
    await mkdir(vendor);
    await mkdir(admin);
    await fn(vendor, admin);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('DEFAULT_UNIT_DIRS are the vendor then the admin directory', () => {
  assert.deepEqual([...DEFAULT_UNIT_DIRS], ['/usr/share/berth/units', '/etc/berth/units.d']);
});

test('later directories override earlier ones by name', async () => {
  await withDirs(async (vendor, admin) => {
    await writeFile(join(vendor, 'control.toml'), unitText('control', 'description = "vendor"\n'));
    await writeFile(join(vendor, 'other.toml'), unitText('other'));
    await writeFile(join(admin, 'control.toml'), unitText('control', 'description = "admin"\n'));
    const r = await loadUnits([vendor, admin]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual([...r.units.keys()].sort(), ['control', 'other']);
    assert.equal(r.units.get('control')?.description, 'admin');
  });
});

test('an invalid override is reported and the earlier unit stays', async () => {
  await withDirs(async (vendor, admin) => {
    await writeFile(join(vendor, 'control.toml'), unitText('control', 'description = "vendor"\n'));
    await writeFile(join(admin, 'control.toml'), unitText('control', 'colour = "red"\n'));
    const r = await loadUnits([vendor, admin]);
    assert.equal(r.units.get('control')?.description, 'vendor');
    assert.ok(r.errors.some((e) => e.file === join(admin, 'control.toml') && e.path === 'colour'));
    assert.ok(r.errors.some((e) => e.path === 'name' && /stays in effect/.test(e.message)));
  });
});

test('missing directories are fine and non-.toml files are ignored', async () => {
  await withDirs(async (vendor) => {
    await writeFile(join(vendor, 'a.toml'), unitText('a'));
    await writeFile(join(vendor, 'README.md'), 'not a unit');
    await writeFile(join(vendor, 'b.toml.bak'), 'garbage = [');
    await writeFile(join(vendor, '.#a.toml'), 'garbage = [');
    await mkdir(join(vendor, 'dir.toml'));
    const r = await loadUnits([join(vendor, 'missing'), vendor, '/nonexistent/berth']);
    assert.deepEqual(r.errors, []);
    assert.deepEqual([...r.units.keys()], ['a']);
  });
});

test('the unit name must equal the file name', async () => {
  await withDirs(async (vendor) => {
    await writeFile(join(vendor, 'admin.toml'), unitText('control'));
    const r = await loadUnits([vendor]);
    assert.equal(r.units.size, 0);
    const e = r.errors.find((x) => x.path === 'name');
    assert.ok(e);
    assert.equal(e.file, join(vendor, 'admin.toml'));
    assert.match(e.message, /"admin"/);
  });
});

test('a file name that is not a valid unit name is rejected', async () => {
  await withDirs(async (vendor) => {
    await writeFile(join(vendor, 'my unit.toml'), unitText('my-unit'));
    const r = await loadUnits([vendor]);
    assert.equal(r.units.size, 0);
    assert.ok(r.errors.some((e) => e.path === '(file name)'));
  });
});

test('TOML syntax errors name the file and line', async () => {
  await withDirs(async (vendor) => {
    const file = join(vendor, 'broken.toml');
    await writeFile(file, 'name = "broken"\nclass = = "host"\n');
    const r = await loadUnits([vendor]);
    assert.equal(r.errors.length, 1);
    assert.match(formatUnitError(r.errors[0]!), new RegExp(`^${file}:2:\\d+: invalid TOML`));
  });
});

test('a dependency on an unknown unit is reported and that unit dropped', async () => {
  await withDirs(async (vendor) => {
    await writeFile(join(vendor, 'app.toml'), unitText('app', 'depends-on = ["ghost"]\n'));
    await writeFile(join(vendor, 'web.toml'), unitText('web', 'depends-on = ["app"]\n'));
    await writeFile(join(vendor, 'ok.toml'), unitText('ok'));
    const r = await loadUnits([vendor]);
    assert.deepEqual([...r.units.keys()], ['ok']);
    const ghost = r.errors.find((e) => e.file === join(vendor, 'app.toml'));
    assert.equal(ghost?.path, 'depends-on[0]');
    assert.match(ghost?.message ?? '', /unknown unit "ghost"/);
    // web depended on the dropped unit, so it cannot start either.
    assert.ok(r.errors.some((e) => e.file === join(vendor, 'web.toml') && e.path === 'depends-on[0]'));
  });
});

test('a dependency on a unit with errors says so', async () => {
  await withDirs(async (vendor) => {
    await writeFile(join(vendor, 'db.toml'), unitText('db', 'colour = "red"\n'));
    await writeFile(join(vendor, 'app.toml'), unitText('app', 'depends-on = ["db"]\n'));
    const r = await loadUnits([vendor]);
    assert.equal(r.units.size, 0);
    assert.ok(r.errors.some((e) => e.path === 'depends-on[0]' && /own errors/.test(e.message)));
  });
});

test('dependency cycles are reported and their units dropped', async () => {
  await withDirs(async (vendor) => {
    await writeFile(join(vendor, 'a.toml'), unitText('a', 'depends-on = ["b"]\n'));
    await writeFile(join(vendor, 'b.toml'), unitText('b', 'depends-on = ["a"]\n'));
    await writeFile(join(vendor, 'c.toml'), unitText('c', 'depends-on = ["a"]\n'));
    const r = await loadUnits([vendor]);
    assert.equal(r.units.size, 0);
    assert.equal(r.errors.filter((e) => /cycle/.test(e.message)).length, 2);
  });
});

test('bootstrap units may only depend on bootstrap units, and run by (order, name)', async () => {
  await withDirs(async (vendor) => {
    await writeFile(join(vendor, 'host.toml'), unitText('host'));
    await writeFile(join(vendor, 'early.toml'), unitText('early', '', 'bootstrap').replace('mode = "once"', 'mode = "once"\norder = -1'));
    await writeFile(join(vendor, 'b1.toml'), unitText('b1', '', 'bootstrap'));
    await writeFile(join(vendor, 'a1.toml'), unitText('a1', '', 'bootstrap'));
    await writeFile(join(vendor, 'bad.toml'), unitText('bad', 'depends-on = ["host"]\n', 'bootstrap'));
    const r = await loadUnits([vendor]);
    assert.ok(r.errors.some((e) => e.file === join(vendor, 'bad.toml') && /only depend on bootstrap/.test(e.message)));
    assert.deepEqual(bootstrapRunOrder(r.units.values()).map((u) => u.name), ['early', 'a1', 'b1']);
  });
});

test('the shipped control and admin units load', async () => {
  const dir = fileURLToPath(new URL('../../../rootfs/usr/share/berth/units', import.meta.url));
  const r = await loadUnits([dir]);
  assert.deepEqual(r.errors.map(formatUnitError), []);
  const control = r.units.get('control');
  const admin = r.units.get('admin');
  assert.equal(control?.class, 'host');
  assert.equal(control?.image, 'localhost/berth/control:latest');
  assert.equal(control?.superpowered, false);
  assert.equal(control?.persistentStorage, true);
  assert.equal(control?.restart.policy, 'always');
  assert.equal(admin?.class, 'host');
  assert.equal(admin?.image, 'localhost/berth/admin:latest');
  assert.equal(admin?.superpowered, true);
  assert.equal(admin?.restart.policy, 'always');
});
