// The esbuild options berth's one-file executables share (build/bundle-cli.ts: berthctl;
// build/bundle-apiclient.ts: berth-apiclient). A module of its own, without top-level work: both build steps
// import it, and bundle-cli's top-level await on bundle-apiclient would deadlock on an import back into it.
import type { BuildOptions } from 'esbuild';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');

/**
 * What every one-file executable of berth's shares (berthctl, berth-apiclient): one CommonJS file for Node 20
 * whose shebang is `shebang`; modules that locate files from import.meta.url locate them from the file's own
 * path (held in `urlVar`, set by the banner; they search upwards, so dist/<name>/ works as dist/src/cli does);
 * the unary codec's JSON root inline (src/wire/unary-codec.ts: built from it just now); whitespace and syntax
 * minified only, so names stay and stack traces still read.
 */
export async function oneFileOptions(shebang: string, urlVar: string): Promise<BuildOptions> {
  return {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    define: {
      'import.meta.url': urlVar,
      BERTHCTL_BERTH_PROTO_ROOT: await readFile(path.join(SRC, 'protobuf/berth.proto.json'), 'utf8'),
    },
    banner: { js: `${shebang}\nconst ${urlVar} = require('node:url').pathToFileURL(__filename).href;` },
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  };
}

