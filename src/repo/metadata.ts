// Reading and writing a repository's signed metadata. Layout (consistent snapshots, as tuf-js expects):
// `metadata/N.root.json` for every root version (plus `root.json`, the newest), `metadata/timestamp.json`,
// `metadata/N.snapshot.json`, `metadata/N.targets.json`; targets as `targets/<sha256>.<name>`.

import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Metadata, MetadataKind, MetaFile, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import { writeFileAtomic } from '../util/atomic-file.js';

export interface RepoMetadata {
  root: Metadata<Root>;
  targets: Metadata<Targets>;
  snapshot: Metadata<Snapshot>;
  timestamp: Metadata<Timestamp>;
}

export const metadataDir = (dir: string): string => join(dir, 'metadata');
export const targetsDir = (dir: string): string => join(dir, 'targets');

type JsonObject = Parameters<typeof Metadata.fromJSON>[1];

async function readJson(path: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path} does not exist (is this a berth-repo directory? run berth-repo init)` : `${path}: ${String(err)}`);
  }
  return JSON.parse(text) as JsonObject;
}

/** The bytes published for a metadata object: what its hashes in snapshot/timestamp are taken over. */
export function serialize(md: { toJSON(): object }): Buffer {
  return Buffer.from(`${JSON.stringify(md.toJSON(), null, 1)}\n`);
}

export function metaFileOf(version: number, bytes: Buffer): MetaFile {
  return new MetaFile({ version, length: bytes.length, hashes: { sha256: createHash('sha256').update(bytes).digest('hex') } });
}

export async function loadMetadata(dir: string): Promise<RepoMetadata> {
  const md = metadataDir(dir);
  const root = Metadata.fromJSON(MetadataKind.Root, await readJson(join(md, 'root.json')));
  const timestamp = Metadata.fromJSON(MetadataKind.Timestamp, await readJson(join(md, 'timestamp.json')));
  const snapshot = Metadata.fromJSON(MetadataKind.Snapshot, await readJson(join(md, `${timestamp.signed.snapshotMeta.version}.snapshot.json`)));
  const targetsMeta = snapshot.signed.meta['targets.json'];
  if (!targetsMeta) throw new Error(`${md}: snapshot lists no targets.json`);
  const targets = Metadata.fromJSON(MetadataKind.Targets, await readJson(join(md, `${targetsMeta.version}.targets.json`)));
  return { root, targets, snapshot, timestamp };
}

async function write(dir: string, name: string, bytes: Buffer): Promise<void> {
  await mkdir(metadataDir(dir), { recursive: true });
  await writeFileAtomic(join(metadataDir(dir), name), bytes);
}

export async function writeRoot(dir: string, root: Metadata<Root>): Promise<void> {
  const bytes = serialize(root);
  await write(dir, `${root.signed.version}.root.json`, bytes);
  await write(dir, 'root.json', bytes);
}

/** Writes targets (if given), then snapshot, then timestamp last: a client reading meanwhile sees the old timestamp. */
export async function writeTopLevel(dir: string, m: Pick<RepoMetadata, 'snapshot' | 'timestamp'> & { targets?: Metadata<Targets> }): Promise<void> {
  if (m.targets) await write(dir, `${m.targets.signed.version}.targets.json`, serialize(m.targets));
  await write(dir, `${m.snapshot.signed.version}.snapshot.json`, serialize(m.snapshot));
  await write(dir, 'timestamp.json', serialize(m.timestamp));
}
