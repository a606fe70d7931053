import protobuf from 'protobufjs';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A set of .proto files under `proto/` loaded as one protobufjs root. The build precompiles each bundle to
 * JSON next to this module (`npm run build` → `<name>.proto.json`): loading that is about twice as fast as
 * parsing the .proto text and keeps the parser's garbage out of a resident daemon. A bundle whose JSON is
 * missing or older than its sources is parsed from the .proto files, so a stale build never changes a wire
 * format.
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
  files: ['settings.proto', 'units.proto', 'events.proto', 'images.proto', 'host.proto', 'workloads.proto'],
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

function sourceFiles(dir: string, bundle: ProtoBundle): string[] {
  const names = bundle.files ?? readdirSync(dir).filter((f) => f.endsWith('.proto')).sort();
  return names.map((f) => path.join(dir, f));
}

/** Parse a bundle's .proto files (field names as written; well-known google/ imports are built in). */
export function parseBundle(bundle: ProtoBundle): protobuf.Root {
  const dir = path.join(protoRoot(), bundle.dir);
  const files = sourceFiles(dir, bundle);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : path.isAbsolute(target) ? target : path.join(dir, target));
  root.loadSync(files, { keepCase: true });
  return root;
}

function compiledIsFresh(bundle: ProtoBundle): boolean {
  let built: number;
  try {
    built = statSync(compiledPath(bundle)).mtimeMs;
  } catch {
    return false;
  }
  return sourceFiles(path.join(protoRoot(), bundle.dir), bundle).every((f) => statSync(f).mtimeMs <= built);
}

const loaded = new Map<ProtoBundle['name'], protobuf.Root>();

/** The bundle's resolved root, loaded once per process. */
export function loadBundle(bundle: ProtoBundle): protobuf.Root {
  const cached = loaded.get(bundle.name);
  if (cached) return cached;
  const root = compiledIsFresh(bundle)
    ? protobuf.Root.fromJSON(JSON.parse(readFileSync(compiledPath(bundle), 'utf8')) as protobuf.INamespace)
    : parseBundle(bundle);
  root.resolveAll();
  loaded.set(bundle.name, root);
  return root;
}
