// The update manifest: one signed TUF target (`manifest.json`) listing every published version, as
// Bottlerocket's manifest does. berth-repo writes it; the updater reads it only after tuf-js verified its bytes.
// Field names are the wire format of a repository, so they change only with `schema`.

import { z } from 'zod';

export const MANIFEST_TARGET = 'manifest.json';
export const MANIFEST_SCHEMA = 1;
/** Seeds are 0…SEED_COUNT-1, as Bottlerocket's (2048). */
export const SEED_COUNT = 2048;

const VERSION_RE = /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/;

/** Problem with a version string, or undefined: berth versions are MAJOR.MINOR.PATCH, compared numerically. */
export function versionProblem(v: string): string | undefined {
  return VERSION_RE.test(v) ? undefined : `expected a version MAJOR.MINOR.PATCH (e.g. 1.4.0), got ${JSON.stringify(v)}`;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

const name = z.string().min(1).max(255).regex(/^[A-Za-z0-9._+-]+$/, 'a target name of letters, digits, . _ + -');
const version = z.string().refine((v) => versionProblem(v) === undefined, 'expected a version MAJOR.MINOR.PATCH');

export const waveSchema = z.object({
  /** First seed of this wave; the wave runs to the next wave's first seed (or to the last seed). */
  seed: z.number().int().min(0).max(SEED_COUNT - 1),
  /** When this wave's first seed may update (ISO 8601). Its last seed may update at the next wave's start. */
  start: z.iso.datetime(),
});

export const updateSchema = z.object({
  variant: z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and -'),
  arch: z.string().min(1).max(32),
  version,
  images: z.object({ root: name, kernel: name, initramfs: name }),
  /** dm-verity root hash of the root image (hex), from the image build. */
  rootHash: z.string().regex(/^[0-9a-f]{64}$/, 'a 64-character lowercase hex sha256 root hash'),
  /** Byte offset of the verity hash tree inside the root image. */
  hashOffset: z.number().int().min(0),
  waves: z.array(waveSchema).max(64),
  /** Target names of this version's settings migrations, in the order they run. */
  migrations: z.array(name).max(64),
});

export const manifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA),
  updates: z.array(updateSchema).max(4096),
});

export type Wave = z.output<typeof waveSchema>;
export type ManifestUpdate = z.output<typeof updateSchema>;
export type Manifest = z.output<typeof manifestSchema>;

export function emptyManifest(): Manifest {
  return { schema: MANIFEST_SCHEMA, updates: [] };
}

/** Parses manifest bytes; the error names the first bad field (`updates[2].rootHash: …`). */
export function parseManifest(text: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${MANIFEST_TARGET}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '';
    throw new Error(`${MANIFEST_TARGET}: ${at || 'document'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
