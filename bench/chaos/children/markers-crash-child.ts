// Child process for R5 (bootstrap `once` markers): marks bootstrap units m1, m2, … one after another via
// bootstrapMarkers().mark until SIGKILLed. Protocol: `ready <n>` (m1..mn were marked), then `<n>` per mark.
// Usage: markers-crash-child.js <stateDir> <runDir> <maxRunMs>
import { writeSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { bootstrapMarkers } from '../../../src/daemon/bootstrap-markers.js';
import type { UnitSpec } from '../../../src/units/types.js';

const [stateDir, runDir, maxRunMs] = process.argv.slice(2);
if (!stateDir || !runDir) process.exit(2);
setTimeout(() => process.exit(3), Number(maxRunMs ?? 30_000)).unref();

const unit = (n: number): UnitSpec => ({ name: `m${n}`, class: 'bootstrap', bootstrap: { mode: 'once', essential: false, order: n } }) as unknown as UnitSpec;

const markers = bootstrapMarkers(stateDir, runDir);
// Where the previous child stopped: one directory listing (thousands of markers accumulate over the rounds),
// then done() — the real check — on the boundary.
const have = new Set((await readdir(path.join(stateDir, 'bootstrap')).catch(() => [] as string[])).map((f) => /^m(\d+)\.done$/.exec(f)?.[1]).filter(Boolean).map(Number));
let counter = 0;
while (have.has(counter + 1)) counter++;
while (await markers.done(unit(counter + 1))) counter++;
writeSync(1, `ready ${counter}\n`);
for (;;) {
  counter += 1;
  await markers.mark(unit(counter));
  writeSync(1, `${counter}\n`);
}
