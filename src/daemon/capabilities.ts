import { readFileSync } from 'node:fs';
import { KNOWN_CAPABILITIES } from '../units/capabilities.js';

/**
 * Capabilities berthd itself may hand out: its bounding set. A superpowered container gets "all" of
 * them; asking runc for one outside the bounding set would make container start fail.
 * KNOWN_CAPABILITIES is in kernel bit order.
 */
export function hostCapabilities(status = '/proc/self/status'): string[] {
  try {
    const line = readFileSync(status, 'utf8').split('\n').find((l) => l.startsWith('CapBnd:'));
    if (!line) return [...KNOWN_CAPABILITIES];
    const mask = BigInt(`0x${line.split(/\s+/)[1]}`);
    return KNOWN_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  } catch {
    return [...KNOWN_CAPABILITIES];
  }
}
