// Child process for R5 (workload list): opens the persisted workload store and commits numbered changes as
// fast as it can until SIGKILLed. Same protocol as tests/support/settings-crash-child.ts:
//   `ready <n>` the store opened and holds counter n;  `<n>` commit n resolved.
// Usage: workloads-crash-child.js <stateDir> <maxRunMs>
import { writeSync } from 'node:fs';
import { WorkloadStore } from '../../../src/workloads/store.js';
import type { WorkloadRecord } from '../../../src/workloads/types.js';

const [stateDir, maxRunMs] = process.argv.slice(2);
if (!stateDir) process.exit(2);
setTimeout(() => process.exit(3), Number(maxRunMs ?? 30_000)).unref();

function record(name: string, counter: number): WorkloadRecord {
  return {
    request: { name, image: 'localhost/x:1', command: [], env: { COUNTER: String(counter) }, mounts: [], restart: 'always', capAdd: [], privileged: false, hostNetwork: false, hostPid: false, devices: [] },
    mcs: [counter % 1000, 1000 + (counter % 23)],
    desired: counter % 2 ? 'running' : 'stopped',
    createdAt: new Date().toISOString(),
  };
}

const store = await WorkloadStore.open(stateDir);
let counter = Number(store.get('w')?.request.env['COUNTER'] ?? 0);
writeSync(1, `ready ${counter}\n`);
for (;;) {
  counter += 1;
  const n = counter;
  // The whole list changes with each commit: `w` carries the counter, `extra-<k>` entries come and go.
  await store.update((records) => {
    records.set('w', record('w', n));
    records.delete(`extra-${(n + 2) % 3}`);
    records.set(`extra-${n % 3}`, record(`extra-${n % 3}`, n));
  });
  writeSync(1, `${n}\n`);
}
