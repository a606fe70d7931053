// berth-repo's flag values: each parser throws an error naming its flag, so bad input never reaches signing.

import { SEED_COUNT, versionProblem } from '../updates/manifest.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `30m`, `12h`, `7d`, `2w`; at most 10 years. */
export function parseDurationFlag(flag: string, text: string, { allowZero = false } = {}): number {
  const m = /^(\d{1,6})(s|m|h|d|w)$/.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!m || ms > 3650 * 86_400_000 || (!allowZero && ms === 0)) {
    throw new Error(`${flag}: expected a duration like 30m, 12h, 7d or 2w${allowZero ? '' : ' (more than 0)'}, got ${JSON.stringify(text)}`);
  }
  return ms;
}

export function parseVersionFlag(text: string): string {
  const p = versionProblem(text);
  if (p) throw new Error(`--version: ${p}`);
  return text;
}

export function parseVariantFlag(text: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(text)) throw new Error(`--variant: expected lowercase letters, digits and - (at most 64), got ${JSON.stringify(text)}`);
  return text;
}

export function parseRootHashFlag(text: string): string {
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`--root-hash: expected the 64-character lowercase hex dm-verity root hash, got ${JSON.stringify(text)}`);
  return text;
}

export function parseHashOffsetFlag(text: string): number {
  if (!/^\d{1,15}$/.test(text) || Number(text) % 512 !== 0) {
    throw new Error(`--hash-offset: expected the byte offset of the verity hash tree (a multiple of 512), got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** `--wave SEED@DURATION`, e.g. `0@1h` (seeds 0… may update one hour after publishing). */
export function parseWaves(texts: readonly string[]): Array<{ seed: number; afterMs: number }> {
  const waves = texts.map((t) => {
    const m = /^(\d{1,4})@(.+)$/.exec(t);
    if (!m || Number(m[1]) >= SEED_COUNT) throw new Error(`--wave: expected SEED@DURATION with SEED 0…${SEED_COUNT - 1} (e.g. 0@1h), got ${JSON.stringify(t)}`);
    return { seed: Number(m[1]), afterMs: parseDurationFlag('--wave', m[2]!, { allowZero: true }) };
  });
  waves.sort((a, b) => a.seed - b.seed);
  if (waves.length > 0 && waves[0]!.seed !== 0) throw new Error(`--wave: the first wave must start at seed 0 (every host belongs to a wave), got ${waves[0]!.seed}`);
  for (let i = 1; i < waves.length; i++) {
    const [a, b] = [waves[i - 1]!, waves[i]!];
    if (a.seed === b.seed) throw new Error(`--wave: seed ${b.seed} is given twice`);
    if (b.afterMs < a.afterMs) throw new Error(`--wave: wave at seed ${b.seed} starts before the wave at seed ${a.seed}; later seeds must not start earlier`);
  }
  return waves;
}

export const ARCHES = ['x86_64', 'aarch64'] as const;

export function hostArch(): string {
  return process.arch === 'arm64' ? 'aarch64' : 'x86_64';
}

export function parseArchFlag(text: string): string {
  if (!(ARCHES as readonly string[]).includes(text)) throw new Error(`--arch: expected ${ARCHES.join(' or ')}, got ${JSON.stringify(text)}`);
  return text;
}
