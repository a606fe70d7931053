// `berthctl validate` reports like a compiler: file:line:column of the offending value, the expected format,
// and for a file that is neither a unit nor a settings document, what each must contain. The TOML locator
// behind it is tested on its own: tables, arrays of tables, dotted and quoted keys, inline tables, strings.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { locateToml, type TomlPathSegment } from '../../src/util/toml-locate.js';
import { formatUnitError, parseUnit } from '../../src/units/index.js';
import { defaultSettingsFile, formatFileIssue, validateFile } from '../../src/cli/validate.js';

function at(text: string, path: readonly TomlPathSegment[]): string | undefined {
  const hit = locateToml(text).find((l) => JSON.stringify(l.path) === JSON.stringify(path));
  return hit ? `${hit.line}:${hit.column}` : undefined;
}

describe('locateToml', () => {
  test('top-level keys, tables, dotted keys, quoted keys', () => {
    const text = [
      'name = "web"          # a comment with = and [brackets]',
      'a.b.c = 1',
      '"quoted key" = \'lit # not a comment\'',
      '[stop]',
      '  timeout = 20',
      '[env]',
      '"A B" = "x"',
      'plain.\'dotted\' = true',
      '[ settings . "host-containers" . admin ]',
      'enabled = "maybe"',
    ].join('\n');
    assert.equal(at(text, ['name']), '1:8');
    assert.equal(at(text, ['a', 'b', 'c']), '2:9');
    assert.equal(at(text, ['quoted key']), '3:16');
    assert.equal(at(text, ['stop']), '4:1');
    assert.equal(at(text, ['stop', 'timeout']), '5:13');
    assert.equal(at(text, ['env', 'A B']), '7:9');
    assert.equal(at(text, ['env', 'plain', 'dotted']), '8:18');
    assert.equal(at(text, ['settings', 'host-containers', 'admin', 'enabled']), '10:11');
  });

  test('arrays of tables (nested too), inline tables, arrays, multi-line strings', () => {
    const text = [
      '[[mounts]]',
      'type = "tmpfs"',
      '[[mounts]]',
      'destination = "tmp"',
      'description = """',
      'a "quoted" line, with = and ]',
      '"""',
      '[[mounts.options]]',
      'x = 1',
      '[[mounts]]',
      'inline = { a = 1, b = { c = "}" }, d = [1, 2] }',
      'args = [',
      '  "sh",  # first',
      "  '-c',",
      ']',
      'after = 2',
    ].join('\n');
    assert.equal(at(text, ['mounts', 0]), '1:1');
    assert.equal(at(text, ['mounts', 0, 'type']), '2:8');
    assert.equal(at(text, ['mounts', 1, 'destination']), '4:15');
    assert.equal(at(text, ['mounts', 1, 'options', 0, 'x']), '9:5');
    assert.equal(at(text, ['mounts', 2, 'inline', 'b', 'c']), '11:29');
    assert.equal(at(text, ['mounts', 2, 'inline', 'd', 1]), '11:44');
    assert.equal(at(text, ['mounts', 2, 'args', 0]), '13:3');
    assert.equal(at(text, ['mounts', 2, 'args', 1]), '14:3');
    assert.equal(at(text, ['mounts', 2, 'after']), '16:9');
  });

  test('never throws; what came before a problem is still found', () => {
    assert.deepEqual(locateToml(''), []);
    const partial = locateToml('a = 1\nb = "unterminated\nc = 3\n');
    assert.deepEqual(partial.map((l) => l.path), [['a'], ['b']]);
    for (const junk of ['[', '[[a', 'a = {', 'a = [1,', '= 1', 'a."b', '"""', "x = '''", '\u0000']) locateToml(junk);
  });
});

describe('unit errors carry line and column', () => {
  test('a value error in a unit file', () => {
    const text = 'name = "web"\nclass = "workload"\nimage = "localhost/web:1"\n\n[stop]\ntimeout = 20\n';
    const r = parseUnit(text, 'web.toml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.errors.map(formatUnitError), ['web.toml:6:11: stop.timeout: expected a duration like "20s", got 20']);
  });

  test('a bad string value says the expected format, an array element is found by index', () => {
    const text = 'name = "web"\nclass = "host"\nimage = "localhost/web:1"\n[[mounts]]\ntype = "tmpfs"\ndestination = "/t"\nsize = "lots"\n';
    const r = parseUnit(text, 'web.toml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(formatUnitError(r.errors[0]!), 'web.toml:7:8: mounts[0].size: expected a size like "64Mi", "64m", "1Gi", "1g", "512k" or a byte count, got "lots"');
  });

  test('a missing key has no position: the file alone', () => {
    const r = parseUnit('name = "web"\nclass = "host"\n', 'web.toml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(formatUnitError(r.errors[0]!), 'web.toml: image: is required');
  });

  test('an empty unit file says what a unit file needs', () => {
    const r = parseUnit('\n# nothing\n', 'web.toml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.match(formatUnitError(r.errors[0]!), /^web\.toml: \(unit\): the file is empty: a unit file needs at least name, class and image/);
  });
});

describe('validateFile', () => {
  let dir: string;
  let defaults: string | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-validate-pos-'));
    await mkdir(join(dir, 'units'));
    defaults = await defaultSettingsFile();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function lines(name: string, text: string): Promise<string[]> {
    const file = join(dir, name);
    await writeFile(file, text);
    const r = await validateFile(file, defaults);
    return r.errors.map((e) => formatFileIssue(name, e));
  }

  test('a value error in a settings document names line and column', async () => {
    const text = '# user data\n[settings.host-containers.admin]\nenabled = true\n\n[settings.host-containers.control]\nenabled = "maybe"\n';
    assert.deepEqual(await lines('user-data.toml', text), ['user-data.toml:6:11: host-containers.control.enabled: expected true or false, got "maybe"']);
  });

  test('dotted keys in a settings document are found too', async () => {
    const text = '[settings]\nhost-containers.admin.enabled = 3\n';
    assert.deepEqual(await lines('dotted.toml', text), ['dotted.toml:2:33: host-containers.admin.enabled: expected true or false, got 3']);
  });

  test('a syntax error in a settings document names line and column', async () => {
    assert.deepEqual(await lines('syntax.toml', '[settings]\na = [\n'), ['syntax.toml:3:1: invalid TOML: invalid value']);
  });

  test('an empty file says what a unit file and a settings document contain', async () => {
    const [message, ...rest] = await lines('empty.toml', '');
    assert.deepEqual(rest, []);
    assert.match(message ?? '', /^empty\.toml: the file is empty: a unit file has name, class and image .*; a settings document has a \[settings\] table/);
  });

  test('name = "x" alone is neither kind, and the message says what each needs', async () => {
    const [message, ...rest] = await lines('name-only.toml', 'name = "x"\n');
    assert.deepEqual(rest, []);
    assert.match(message ?? '', /^name-only\.toml: neither a unit file nor a settings document \(top-level "name"\): a unit file has name, class and image/);
    assert.match(message ?? '', /a settings document has a \[settings\] table/);
  });

  test('a missing file: one line saying it does not exist', async () => {
    const r = await validateFile(join(dir, 'absent.toml'), defaults);
    assert.deepEqual(r.errors.map((e) => formatFileIssue('absent.toml', e)), ['absent.toml: file does not exist']);
  });
});
