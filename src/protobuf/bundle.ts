import protobuf from 'protobufjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compiledIsFresh, compiledPath, protoRoot, sourceFiles, type ProtoBundle } from './compiled.js';

/**
 * A set of .proto files under `proto/` (./compiled.ts) loaded as one protobufjs root. The build precompiles
 * each bundle to JSON (`npm run build` → `<name>.proto.json`): loading that is about twice as fast as
 * parsing the .proto text and keeps the parser's garbage out of a resident daemon. A bundle whose JSON is
 * missing or older than its sources is parsed from the .proto files, so a stale build never changes a wire
 * format.
 */
export { BERTH_BUNDLE, BUNDLES, CONTAINERD_BUNDLE, compiledPath, protoRoot, type ProtoBundle } from './compiled.js';

/** Parse a bundle's .proto files (field names as written; well-known google/ imports are built in). */
export function parseBundle(bundle: ProtoBundle): protobuf.Root {
  const dir = path.join(protoRoot(), bundle.dir);
  const files = sourceFiles(dir, bundle);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : path.isAbsolute(target) ? target : path.join(dir, target));
  root.loadSync(files, { keepCase: true });
  return root;
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
