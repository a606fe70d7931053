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
  /** The field (dotted key, `mounts[2].destination`, `line 3, column 5`), or '' for the whole file. */
  path: string;
  message: string;
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
  return result.ok ? [] : result.errors.map((e) => ({ path: e.path, message: e.message }));
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
    const store = await SettingsStore.open({ stateDir, defaultsFile: defaults });
    try {
      await store.apply(text, documentFormat(file, text));
      return [];
    } catch (err) {
      if (!(err instanceof SettingsError)) throw err;
      if (err.issues.length === 0) return [{ path: '', message: err.message }];
      return err.issues.map((i) => ({ path: i.key, message: i.message }));
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

/** `file: field: message`, the form editors and CI logs can point at. */
export function formatFileIssue(file: string, issue: FileIssue): string {
  return issue.path === '' ? `${file}: ${issue.message}` : `${file}: ${issue.path}: ${issue.message}`;
}
