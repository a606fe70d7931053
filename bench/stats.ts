/** Small statistics and table helpers shared by the benchmark scenarios. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export interface Row {
  scenario: string;
  berth: number;
  baseline?: number;
  baselineName?: string;
  unit: string;
  /** Target as text, e.g. "≤ 0.8× ctr" or "≤ 250 ms". */
  target: string;
  met: boolean;
  samples?: { berth: number[]; baseline?: number[] };
}

export function formatTable(rows: Row[]): string {
  const header = ['scenario', 'berth (median)', 'baseline (median)', 'ratio', 'target', 'met'];
  const fmt = (n: number | undefined, unit: string): string => (n === undefined || Number.isNaN(n) ? '-' : `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ${unit}`);
  const lines = rows.map((r) => [
    r.scenario,
    fmt(r.berth, r.unit),
    r.baseline === undefined ? '-' : `${fmt(r.baseline, r.unit)} (${r.baselineName})`,
    r.baseline ? `${(r.berth / r.baseline).toFixed(2)}×` : '-',
    r.target,
    r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [row(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(row)].join('\n');
}

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
