// Offline validation (`berthctl validate FILE…`), no daemon needed: unit specs through the units module's
// parser, settings documents through a throwaway settings store — the same code paths berthd uses, so
// "validate passes" means "berthd would accept it". Both modules are imported only when needed.
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { documentFormat } from './document-format.js';
import { unreadable } from './files.js';

export interface FileIssue {
  /** The field (dotted key, `mounts[2].destination`), or '' for the whole file or a syntax error. */
  path: string;
  message: string;
  /** Where in the file, 1-based, when known (TOML only: a JSON document is named by file and key). */
  line?: number;
  column?: number;
}

export interface FileResult {
  file: string;
  kind: 'unit' | 'settings';
  ok: boolean;
  errors: FileIssue[];
}

const UNIT_DIRS = new Set(['units', 'units.d']);

/** Unit specs are `.toml` files in a units directory, or with a top-level `class` key (settings have none). */
export async function isUnitSpec(file: string, text: string): Promise<boolean> {
  if (!/\.toml$/i.test(file)) return false;
  const dirs = path.resolve(file).split(path.sep).slice(0, -1);
  if (dirs.some((d) => UNIT_DIRS.has(d))) return true;
  const { parseTomlBounded } = await import('../util/depth.js');
  try {
    // Bounded like every other parse of user input; a too-deep document is then reported by the settings check.
    const doc = parseTomlBounded(text);
    return Object.hasOwn(doc, 'class');
  } catch {
    // Unparseable and not in a units directory: a settings document with a syntax error, as far as we know.
    return false;
  }
}

async function validateUnitSpec(file: string, text: string): Promise<FileIssue[]> {
  const { parseUnit } = await import('../units/index.js');
  const result = parseUnit(text, file);
  if (result.ok) return [];
  return result.errors.map((e) => ({
    path: e.path === '(syntax)' ? '' : e.path,
    message: e.message,
    ...(e.line !== undefined ? { line: e.line, column: e.column ?? 1 } : {}),
  }));
}

const SETTINGS_NEEDS = 'a settings document has a [settings] table, e.g. [settings.host-containers.admin] with enabled = true';
const UNIT_NEEDS = 'a unit file has name, class and image at the top, e.g. name = "web", class = "workload", image = "registry.example.com/team/web:1"';

/**
 * A file that is neither kind (empty, or top-level keys that are not `settings`, without `class`) gets one
 * message saying what each kind must contain, rather than the settings check's "unexpected top-level key".
 */
async function neitherKind(text: string, format: 'toml' | 'json'): Promise<FileIssue | undefined> {
  const { parseJsonBounded, parseTomlBounded } = await import('../util/depth.js');
  let doc: unknown;
  try {
    doc = format === 'toml' ? parseTomlBounded(text) : parseJsonBounded(text);
  } catch {
    return undefined; // a syntax error: the settings check reports it with its position
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || Object.hasOwn(doc, 'settings')) return undefined;
  const keys = Object.keys(doc);
  if (keys.length === 0) return { path: '', message: `the file is empty: ${UNIT_NEEDS}; ${SETTINGS_NEEDS}` };
  return {
    path: '',
    message: `neither a unit file nor a settings document (top-level ${keys.map((k) => JSON.stringify(k)).join(', ')}): ` +
      `${UNIT_NEEDS} (and "class" or a units/ directory marks it as one); ${SETTINGS_NEEDS}`,
  };
}

/** Puts each settings issue at its value in a TOML document (issues name keys without the `settings.`). */
async function locateSettingsIssues(issues: FileIssue[], text: string, format: 'toml' | 'json'): Promise<FileIssue[]> {
  if (format !== 'toml') return issues;
  const { findTomlValue } = await import('../util/toml-locate.js');
  return issues.map((issue) => {
    const syntax = /\s*\(line (\d+), column (\d+)\)/.exec(issue.message);
    if (issue.path === '' && syntax) {
      return { ...issue, message: issue.message.replace(syntax[0], ''), line: Number(syntax[1]), column: Number(syntax[2]) };
    }
    if (issue.path === '') return issue;
    const wanted = [`settings.${issue.path}`, issue.path];
    const at = findTomlValue(text, (p) => p.every((s) => typeof s === 'string') && wanted.includes(p.join('.')));
    return at ? { ...issue, ...at } : issue;
  });
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** The shipped defaults a host has, else the ones in this package, else none. */
export async function defaultSettingsFile(): Promise<string | undefined> {
  const host = '/usr/share/berth/settings.toml';
  if (await exists(host)) return host;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'rootfs', 'usr', 'share', 'berth', 'settings.toml');
    if (await exists(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

/**
 * Applies the document to a fresh store in a temporary directory: the settings module has no store-less
 * document check in its public surface, and a real apply also runs the whole-state rules (a host container
 * needs a source) against the shipped defaults.
 */
async function validateSettingsDocument(file: string, text: string, defaultsFile: string | undefined): Promise<FileIssue[]> {
  const { SettingsStore, SettingsError } = await import('../settings/index.js');
  const stateDir = await mkdtemp(path.join(tmpdir(), 'berthctl-validate-'));
  try {
    let defaults = defaultsFile;
    if (defaults === undefined) {
      defaults = path.join(stateDir, 'defaults.toml');
      await writeFile(defaults, '[settings]\n');
    }
    const format = documentFormat(file, text);
    const neither = await neitherKind(text, format);
    if (neither) return [neither];
    const store = await SettingsStore.open({ stateDir, defaultsFile: defaults });
    try {
      await store.apply(text, format);
      return [];
    } catch (err) {
      if (!(err instanceof SettingsError)) throw err;
      if (err.issues.length === 0) return [{ path: '', message: err.message }];
      return locateSettingsIssues(err.issues.map((i) => ({ path: i.key, message: i.message })), text, format);
    }
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

export async function validateFile(file: string, defaultsFile: string | undefined): Promise<FileResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const message = unreadable(err);
    return { file, kind: /\.toml$/i.test(file) ? 'unit' : 'settings', ok: false, errors: [{ path: '', message }] };
  }
  const kind = (await isUnitSpec(file, text)) ? 'unit' : 'settings';
  const errors = kind === 'unit' ? await validateUnitSpec(file, text) : await validateSettingsDocument(file, text, defaultsFile);
  return { file, kind, ok: errors.length === 0, errors };
}

/** `file:line:column: field: message`, the form compilers use, which editors and CI logs jump to. */
export function formatFileIssue(file: string, issue: FileIssue): string {
  const where = issue.line === undefined ? file : `${file}:${issue.line}:${issue.column ?? 1}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}
