// berth-repo's operations on a repository directory: init, add, refresh, rotate-root. Each one loads the
// current signed metadata, changes it, re-signs exactly the roles it must, and writes targets → snapshot →
// timestamp so a client that reads in between sees a complete older state. `now` is injectable so tests can
// publish metadata that is already expired.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, copyFile, mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { Metadata, Root, Snapshot, Targets, TargetFile, Timestamp } from '@tufjs/models';
import { emptyManifest, MANIFEST_TARGET, parseManifest, compareVersions, type Manifest, type ManifestUpdate } from '../updates/manifest.js';
import { generateKey, keyPath, loadKey, ROLES, saveKey, signer, type SigningKey } from './keys.js';
import { loadMetadata, metaFileOf, serialize, targetsDir, writeRoot, writeTopLevel, type RepoMetadata } from './metadata.js';

export const SPEC_VERSION = '1.0.31';
const DAY_MS = 86_400_000;
export const ROOT_EXPIRES_MS = 365 * DAY_MS;
export const TARGETS_EXPIRES_MS = 90 * DAY_MS;
export const DEFAULT_EXPIRES_MS = 7 * DAY_MS;

export interface Clock {
  /** Signing time; expiries count from it. */
  readonly now?: Date;
}

const iso = (now: Date, plusMs: number): string => new Date(now.getTime() + plusMs).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

export async function init(dir: string, opts: Clock & { expiresMs?: number } = {}): Promise<void> {
  const now = opts.now ?? new Date();
  if (await exists(join(dir, 'metadata', '1.root.json'))) throw new Error(`${dir}: already a repository (metadata/1.root.json exists)`);
  await mkdir(join(dir, 'keys'), { recursive: true, mode: 0o700 });
  await mkdir(targetsDir(dir), { recursive: true });
  const keys = new Map<string, SigningKey>();
  for (const role of ROLES) {
    const k = generateKey();
    keys.set(role, k);
    await saveKey(dir, role, k);
  }
  const root = new Metadata(new Root({ version: 1, specVersion: SPEC_VERSION, expires: iso(now, ROOT_EXPIRES_MS), consistentSnapshot: true }));
  for (const role of ROLES) root.signed.addKey(keys.get(role)!.key, role);
  root.sign(signer(keys.get('root')!));
  await writeRoot(dir, root);
  // An empty manifest from the start, so a client's first check reads "no versions" rather than failing.
  await publish(dir, undefined, await addTargetFile(dir, {}, MANIFEST_TARGET, await writeManifest(dir, emptyManifest())), {
    now, expiresMs: opts.expiresMs ?? DEFAULT_EXPIRES_MS,
  });
}

/** Copies `file` into targets/ under its content address; returns its TargetFile entry. */
async function storeTarget(dir: string, name: string, file: string): Promise<TargetFile> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  const sha256 = hash.digest('hex');
  const dest = join(targetsDir(dir), `${sha256}.${name}`);
  const tmp = `${dest}.tmp-${process.pid}`;
  await copyFile(file, tmp);
  await rename(tmp, dest);
  return new TargetFile({ path: name, length, hashes: { sha256 } });
}

async function writeManifest(dir: string, manifest: Manifest): Promise<string> {
  // Outside targets/: a half-written manifest must never be servable.
  const path = join(dir, `.${MANIFEST_TARGET}.new`);
  await writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return path;
}

async function addTargetFile(dir: string, into: Record<string, TargetFile>, name: string, file: string): Promise<Record<string, TargetFile>> {
  const stored = await storeTarget(dir, name, file);
  if (name === MANIFEST_TARGET) await unlink(file);
  return { ...into, [name]: stored };
}

export async function readManifest(dir: string, md: RepoMetadata): Promise<Manifest> {
  const t = md.targets.signed.targets[MANIFEST_TARGET];
  if (!t) return emptyManifest();
  return parseManifest(await readFile(join(targetsDir(dir), `${t.hashes['sha256']}.${MANIFEST_TARGET}`), 'utf8'));
}

interface PublishOptions {
  readonly now: Date;
  readonly expiresMs: number;
}

/** Signs a new targets version holding `targets`, then a snapshot and a timestamp naming it. */
async function publish(dir: string, md: RepoMetadata | undefined, targets: Record<string, TargetFile>, o: PublishOptions): Promise<void> {
  const [tk, sk, tsk] = await Promise.all([loadKey(dir, 'targets'), loadKey(dir, 'snapshot'), loadKey(dir, 'timestamp')]);
  const newTargets = new Metadata(new Targets({
    version: (md?.targets.signed.version ?? 0) + 1, specVersion: SPEC_VERSION, expires: iso(o.now, TARGETS_EXPIRES_MS), targets,
  }));
  newTargets.sign(signer(tk));
  const snapshotVersion = (md?.snapshot.signed.version ?? 0) + 1;
  const timestampVersion = (md?.timestamp.signed.version ?? 0) + 1;
  await signSnapshotAndTimestamp(dir, newTargets, snapshotVersion, timestampVersion, sk, tsk, o);
}

async function signSnapshotAndTimestamp(
  dir: string, targets: Metadata<Targets>, snapshotVersion: number, timestampVersion: number, sk: SigningKey, tsk: SigningKey, o: PublishOptions,
): Promise<void> {
  const snapshot = new Metadata(new Snapshot({
    version: snapshotVersion, specVersion: SPEC_VERSION, expires: iso(o.now, o.expiresMs),
    meta: { 'targets.json': metaFileOf(targets.signed.version, serialize(targets)) },
  }));
  snapshot.sign(signer(sk));
  const timestamp = new Metadata(new Timestamp({
    version: timestampVersion, specVersion: SPEC_VERSION, expires: iso(o.now, o.expiresMs),
    snapshotMeta: metaFileOf(snapshotVersion, serialize(snapshot)),
  }));
  timestamp.sign(signer(tsk));
  await writeTopLevel(dir, { targets, snapshot, timestamp });
}

export interface AddInput {
  readonly version: string;
  readonly variant: string;
  readonly arch: string;
  readonly rootImage: string;
  readonly rootHash: string;
  readonly hashOffset: number;
  readonly kernel: string;
  readonly initramfs: string;
  readonly migrations: readonly string[];
  /** Waves as (first seed, delay after `now`). */
  readonly waves: ReadonlyArray<{ seed: number; afterMs: number }>;
}

export async function add(dir: string, input: AddInput, opts: Clock & { expiresMs?: number } = {}): Promise<ManifestUpdate> {
  const now = opts.now ?? new Date();
  const md = await loadMetadata(dir);
  const manifest = await readManifest(dir, md);
  const same = manifest.updates.find((u) => u.version === input.version && u.variant === input.variant && u.arch === input.arch);
  if (same) throw new Error(`--version: ${input.version} of variant ${input.variant} (${input.arch}) is already published`);
  const prefix = `${input.variant}-${input.arch}-${input.version}`;
  let targets: Record<string, TargetFile> = { ...md.targets.signed.targets };
  const images = { root: `${prefix}-root.img`, kernel: `${prefix}-vmlinuz`, initramfs: `${prefix}-initramfs.img` };
  targets = await addTargetFile(dir, targets, images.root, input.rootImage);
  targets = await addTargetFile(dir, targets, images.kernel, input.kernel);
  targets = await addTargetFile(dir, targets, images.initramfs, input.initramfs);
  const migrations: string[] = [];
  for (const [i, file] of input.migrations.entries()) {
    const name = `${prefix}-migration-${i}-${file.split('/').pop() ?? 'migration'}`.replace(/[^A-Za-z0-9._+-]/g, '_');
    targets = await addTargetFile(dir, targets, name, file);
    migrations.push(name);
  }
  const entry: ManifestUpdate = {
    variant: input.variant, arch: input.arch, version: input.version, images,
    rootHash: input.rootHash, hashOffset: input.hashOffset,
    waves: input.waves.map((w) => ({ seed: w.seed, start: iso(now, w.afterMs) })),
    migrations,
  };
  const next: Manifest = { ...manifest, updates: [...manifest.updates, entry].sort((a, b) => compareVersions(a.version, b.version)) };
  targets = await addTargetFile(dir, targets, MANIFEST_TARGET, await writeManifest(dir, next));
  await publish(dir, md, targets, { now, expiresMs: opts.expiresMs ?? DEFAULT_EXPIRES_MS });
  return entry;
}

/** Re-signs snapshot and timestamp (new versions, new expiry); targets stay as they are. */
export async function refresh(dir: string, opts: Clock & { expiresMs?: number } = {}): Promise<{ timestampVersion: number; expires: string }> {
  const now = opts.now ?? new Date();
  const expiresMs = opts.expiresMs ?? DEFAULT_EXPIRES_MS;
  const md = await loadMetadata(dir);
  const [sk, tsk] = await Promise.all([loadKey(dir, 'snapshot'), loadKey(dir, 'timestamp')]);
  const snapshot = new Metadata(new Snapshot({
    version: md.snapshot.signed.version + 1, specVersion: SPEC_VERSION, expires: iso(now, expiresMs), meta: md.snapshot.signed.meta,
  }));
  snapshot.sign(signer(sk));
  const timestamp = new Metadata(new Timestamp({
    version: md.timestamp.signed.version + 1, specVersion: SPEC_VERSION, expires: iso(now, expiresMs),
    snapshotMeta: metaFileOf(snapshot.signed.version, serialize(snapshot)),
  }));
  timestamp.sign(signer(tsk));
  await writeTopLevel(dir, { snapshot, timestamp });
  return { timestampVersion: timestamp.signed.version, expires: timestamp.signed.expires };
}

/**
 * A new root key: root N+1 lists only the new key for the root role and is signed by the old key (so clients
 * trusting root N accept it) and by the new one (so it satisfies its own threshold). The old key is kept as
 * `keys/root.vN.json`.
 */
export async function rotateRoot(dir: string, opts: Clock = {}): Promise<{ version: number; keyId: string }> {
  const now = opts.now ?? new Date();
  const md = await loadMetadata(dir);
  const oldKey = await loadKey(dir, 'root');
  const newKey = generateKey();
  const json = md.root.signed.toJSON() as Record<string, unknown> & { keys: Record<string, unknown>; roles: Record<string, { keyids: string[] }> };
  const version = md.root.signed.version + 1;
  const oldIds = json.roles['root']?.keyids ?? [];
  const stillUsed = new Set(Object.entries(json.roles).filter(([r]) => r !== 'root').flatMap(([, r]) => r.keyids));
  for (const id of oldIds) if (!stillUsed.has(id)) delete json.keys[id];
  json.keys[newKey.key.keyID] = newKey.key.toJSON();
  json.roles['root'] = { ...json.roles['root'], keyids: [newKey.key.keyID] };
  const root = new Metadata(Root.fromJSON({ ...json, version, expires: iso(now, ROOT_EXPIRES_MS) } as Parameters<typeof Root.fromJSON>[0]));
  root.sign(signer(oldKey));
  root.sign(signer(newKey));
  // Keep the old key first, so a failure after this leaves both keys on disk.
  await rename(keyPath(dir, 'root'), keyPath(dir, `root.v${md.root.signed.version}`));
  await saveKey(dir, 'root', newKey);
  await writeRoot(dir, root);
  return { version, keyId: newKey.key.keyID };
}
