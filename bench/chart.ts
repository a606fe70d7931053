import type { Row } from './stats.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * An SVG strip chart of the latency distributions: one band per scenario with samples, berth's samples
 * (blue) beside its baseline's (grey), each with its median marked, on a log-scaled millisecond axis.
 */
export function latencyChart(rows: Row[]): string {
  const bands = rows.filter((r) => r.unit === 'ms' && r.samples && r.samples.berth.length > 0);
  const width = 900;
  const left = 330;
  const bandH = 46;
  const top = 40;
  const height = top + bands.length * bandH + 40;
  const all = bands.flatMap((r) => [...r.samples!.berth, ...(r.samples!.baseline ?? [])]).filter((x) => x > 0);
  const lo = Math.max(0.01, Math.min(...all) * 0.8);
  const hi = Math.max(...all) * 1.2;
  const x = (v: number): number => left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (width - left - 20);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">berth vs baseline, latency samples (ms, log scale); blue = berth, grey = baseline, bar = median</text>`,
  ];
  bands.forEach((r, i) => {
    const y = top + i * bandH;
    parts.push(`<text x="10" y="${y + 22}">${esc(r.scenario.slice(0, 48))}</text>`);
    const strip = (samples: number[], yy: number, color: string): void => {
      for (const v of samples) parts.push(`<circle cx="${x(v).toFixed(1)}" cy="${yy}" r="2.5" fill="${color}" fill-opacity="0.5"/>`);
      const m = x(median(samples));
      parts.push(`<line x1="${m.toFixed(1)}" x2="${m.toFixed(1)}" y1="${yy - 7}" y2="${yy + 7}" stroke="${color}" stroke-width="2.5"/>`);
    };
    strip(r.samples!.berth, y + 14, '#1f6fd1');
    if (r.samples!.baseline?.length) strip(r.samples!.baseline, y + 30, '#777');
  });
  const axisY = top + bands.length * bandH + 10;
  parts.push(`<line x1="${left}" x2="${width - 20}" y1="${axisY}" y2="${axisY}" stroke="black"/>`);
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** p;
      if (v < lo || v > hi) continue;
      parts.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${axisY}" y2="${axisY + 5}" stroke="black"/>`);
      parts.push(`<text x="${x(v).toFixed(1)}" y="${axisY + 18}" text-anchor="middle">${v >= 1 ? v : v.toFixed(2)}</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}
