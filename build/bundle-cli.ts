// Build step (after tsc and the proto compile): berthctl as one CommonJS file, dist/berthctl/berthctl.cjs.
//
// Why (issue 16): berthctl runs one command per process, so its start-up is its latency. Loaded as tsc
// leaves it, a one-shot call spends ~10 ms in Node's ES module loader (resolving and linking ~40 files) and
// ~8 ms in commander's CommonJS export scan; one CommonJS file has neither. What only some commands need
// stays out of the file and is loaded from dist/src when used:
// - npm packages other than commander (grpc-js and protobufjs for streams and exec, zod and smol-toml for
//   validate): they are required from node_modules as they are;
// - the modules `validate` imports dynamically (units, settings, TOML location): dist/src's own files, so
//   the file stays ~200 KB and Node compiles only what a command reaches.
// Every module inside the file is initialised lazily (esbuild wraps dynamically imported ones), so a command
// runs only its own code, as it did unbundled.
import { build, type Plugin } from 'esbuild';
import { oneFileOptions } from './one-file.js';
import { chmod, copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(ROOT, 'dist/src');
export const BUNDLE_DIR = path.join(ROOT, 'dist/berthctl');
export const BUNDLE = path.join(BUNDLE_DIR, 'berthctl.cjs');

/** npm packages the file requires at run time instead of containing. */
const EXTERNAL_PACKAGES = ['@grpc/grpc-js', 'protobufjs', 'zod', 'smol-toml', 'pino', 'dockerode', 'systeminformation', 'tar-stream', 'unix-dgram'];

/** Modules that only `validate` loads (dynamically): left in dist/src and imported from there. */
const LOADED_FROM_DIST = /^\.\.\/(units\/index|settings\/index|util\/toml-locate|util\/depth)\.js$/;

const plugins: Plugin[] = [
  {
    name: 'berthctl-layout',
    setup(b) {
      b.onResolve({ filter: LOADED_FROM_DIST }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const target = path.resolve(args.resolveDir, args.path);
        return { path: `./${path.relative(BUNDLE_DIR, target)}`, external: true };
      });
      // src/cli/commander.ts requires commander through createRequire (a cheaper start for the unbundled
      // ES modules); in the bundle, commander is simply part of the file.
      b.onLoad({ filter: /[\\/]dist[\\/]src[\\/]cli[\\/]commander\.js$/ }, () => ({
        contents: "export { Command, CommanderError, InvalidArgumentError, Option } from 'commander';",
        resolveDir: path.join(SRC, 'cli'),
        loader: 'js',
      }));
      // commander requires child_process at load time only to spawn executable subcommands, which berthctl
      // has none of; loading it (and the dgram and socket modules it pulls in) costs every call ~4 ms.
      b.onResolve({ filter: /^(node:)?child_process$/ }, (args) => (/[\\/]commander[\\/]/.test(args.importer) ? { path: 'lazy-child-process', namespace: 'berthctl' } : undefined));
      b.onLoad({ filter: /^lazy-child-process$/, namespace: 'berthctl' }, () => ({
        contents: "module.exports = new Proxy({}, { get: (_, key) => require('node:child_process')[key] });",
        loader: 'js',
      }));
    },
  },
];

export async function bundleCli(): Promise<void> {
  await mkdir(BUNDLE_DIR, { recursive: true });
  await build({
    // berthctl talks only to berthd's unix socket, never to a TLS server, so the extra CA bundle Node would
    // read at start-up (35 ms on a host that sets NODE_EXTRA_CA_CERTS) is dropped by the launcher line.
    ...(await oneFileOptions('#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node', '__berthctlUrl')),
    entryPoints: [path.join(SRC, 'cli/main.js')],
    outfile: BUNDLE,
    external: EXTERNAL_PACKAGES,
    plugins,
  });
  await chmod(BUNDLE, 0o755);
  // The unary codec reads the compiled protos next to the module that loads them (src/protobuf/compiled.ts).
  await copyFile(path.join(SRC, 'protobuf/berth.proto.json'), path.join(BUNDLE_DIR, 'berth.proto.json'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli();
  // berth-apiclient (for brupop's agent container) in the same build step.
  await (await import('./bundle-apiclient.js')).bundleApiclient();
}
