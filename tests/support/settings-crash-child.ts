// Child process for the settings crash test: opens the store and commits numbered transactions as fast as it
// can until it is SIGKILLed. Protocol on stdout, one line each, written synchronously so that a line the
// parent sees was really sent before the kill:
//   `ready <n>`  the store opened and holds counter n (0 if never set)
//   `<n>`        commit n has resolved (is durable as far as the store is concerned)
// Usage: settings-crash-child.js <stateDir> <defaultsFile> <maxRunMs>

import { writeSync } from 'node:fs';
import { SettingsStore } from '../../src/settings/index.js';

const [stateDir, defaultsFile, maxRunMs] = process.argv.slice(2);
if (!stateDir || !defaultsFile) {
  process.stderr.write('usage: settings-crash-child <stateDir> <defaultsFile> [maxRunMs]\n');
  process.exit(2);
}

// Never outlive a parent that forgot us; an orphaned child would also exit on EPIPE at its next line.
setTimeout(() => process.exit(3), Number(maxRunMs ?? 30_000)).unref();

const KEY = 'host-containers.c.user-data';
const store = await SettingsStore.open({ stateDir, defaultsFile });
const current = store.getFlat()[KEY];
let counter = typeof current === 'string' ? Number(Buffer.from(current, 'base64').toString('utf8')) : 0;
writeSync(1, `ready ${counter}\n`);

for (;;) {
  counter += 1;
  await store.set({
    'host-containers.c.source': 'localhost/berth/crash:1',
    [KEY]: Buffer.from(String(counter)).toString('base64'),
  });
  writeSync(1, `${counter}\n`);
}
