// The disk side of host updates: A/B root slots on a GPT disk or disk image file, boot entries on the ESP.
export { createDiskInstaller, type DiskInstaller, type DiskInstallerOptions } from './installer.js';
export { readGpt, partitionNamed, type GptPartition, type GptTable } from './gpt.js';
export { readLayout, type DiskLayout } from './layout.js';
export { Esp } from './esp.js';
export { LOADER_CONF } from './entries.js';
export type * from './types.js';
