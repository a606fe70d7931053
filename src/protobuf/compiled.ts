import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonNode } from './codec.js';

/**
 * A set of .proto files under `proto/` and where the build puts its precompiled JSON (`npm run build` →
 * `<name>.proto.json` next to this module). Kept apart from bundle.ts, which loads protobufjs, so that
 * berthctl's fast path (./codec.ts) can read the JSON without it.
 */
export interface ProtoBundle {
  name: 'containerd' | 'berth';
  /** Directory under `proto/`. */
  dir: string;
  /** Files in that directory; all `.proto` files when omitted. */
  files?: readonly string[];
}

export const CONTAINERD_BUNDLE: ProtoBundle = { name: 'containerd', dir: 'containerd' };
export const BERTH_BUNDLE: ProtoBundle = {
  name: 'berth',
  dir: path.join('berth', 'v1'),
  files: ['settings.proto', 'units.proto', 'events.proto', 'images.proto', 'host.proto', 'workloads.proto', 'fleet.proto', 'updates.proto'],
};
export const BUNDLES: readonly ProtoBundle[] = [CONTAINERD_BUNDLE, BERTH_BUNDLE];

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** proto/ at the package root, found from dist/src/protobuf or src/protobuf alike. */
export function protoRoot(): string {
  let dir = HERE;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'proto');
    try {
      if (statSync(path.join(candidate, CONTAINERD_BUNDLE.dir)).isDirectory()) return candidate;
    } catch {
      /* not here: go up */
    }
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the proto/ directory of berth');
}

export function compiledPath(bundle: ProtoBundle): string {
  return path.join(HERE, `${bundle.name}.proto.json`);
}

export function sourceFiles(dir: string, bundle: ProtoBundle): string[] {
  const names = bundle.files ?? readdirSync(dir).filter((f) => f.endsWith('.proto')).sort();
  return names.map((f) => path.join(dir, f));
}

export function compiledIsFresh(bundle: ProtoBundle): boolean {
  let built: number;
  try {
    built = statSync(compiledPath(bundle)).mtimeMs;
  } catch {
    return false;
  }
  return sourceFiles(path.join(protoRoot(), bundle.dir), bundle).every((f) => statSync(f).mtimeMs <= built);
}

/** The bundle's precompiled JSON root; undefined when it is missing or older than its .proto files. */
export function readCompiled(bundle: ProtoBundle): JsonNode | undefined {
  if (!compiledIsFresh(bundle)) return undefined;
  return JSON.parse(readFileSync(compiledPath(bundle), 'utf8')) as JsonNode;
}
