// Build step (`npm run build`): precompile every proto bundle to the JSON that loadBundle reads.
import { writeFileSync } from 'node:fs';
import { BUNDLES, compiledPath, parseBundle } from './bundle.js';

for (const bundle of BUNDLES) {
  writeFileSync(compiledPath(bundle), JSON.stringify(parseBundle(bundle).toJSON()));
}
