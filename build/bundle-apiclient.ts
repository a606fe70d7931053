// Build step: berth-apiclient as one self-contained CommonJS file, dist/berth-apiclient/berth-apiclient.cjs.
//
// Why: brupop's agent runs `apiclient` once per API call inside its own container, where berth's dist/ and
// node_modules are not (only what the DaemonSet mounts is): one file that needs only `node` can be mounted
// as /bin/apiclient. It needs nothing from node_modules on its path: the unary codec's JSON root is inline
// and the calls go over berthctl's HTTP/2 client on node:net (grpc-js would only be loaded if the inline
// root lacked a method, which the build rules out). It also starts faster than the ES modules (no loader).
import { build } from 'esbuild';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { oneFileOptions } from './one-file.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(ROOT, 'dist/src');
export const APICLIENT_BUNDLE = path.join(ROOT, 'dist/berth-apiclient/berth-apiclient.cjs');

export async function bundleApiclient(): Promise<void> {
  await mkdir(path.dirname(APICLIENT_BUNDLE), { recursive: true });
  await build({
    ...(await oneFileOptions('#!/usr/bin/env node', '__apiclientUrl')),
    entryPoints: [path.join(SRC, 'apiclient/main.js')],
    outfile: APICLIENT_BUNDLE,
    // Reached only off the HTTP/2 path (streams, TLS): never by berth-apiclient, so left out of the file.
    external: ['@grpc/grpc-js', 'protobufjs'],
  });
  await chmod(APICLIENT_BUNDLE, 0o755);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleApiclient();
}
