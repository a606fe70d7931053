// The soak as one SVG of stacked panels over time (same look as bench/chart.ts's latency chart): RSS and
// heap, open fds, event-loop delay p99 per 5 s window, each with its target drawn where it has one.
import type { Sample } from './sampler.js';
import { LOOP_P99_MS, RSS_GROWTH_MB, warmSample } from './figures.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Series {
  label: string;
  color: string;
  values: number[];
}

interface Panel {
  title: string;
  unit: string;
  series: Series[];
  /** A horizontal target line. */
  target?: { value: number; label: string };
}

const WIDTH = 900;
const LEFT = 70;
const RIGHT = 40;
const PANEL_H = 150;
const GAP = 50;
const TOP = 40;

function nice(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function drawPanel(parts: string[], p: Panel, ts: number[], y0: number): void {
  const tMax = Math.max(...ts, 1);
  const all = [...p.series.flatMap((s) => s.values), ...(p.target ? [p.target.value] : [])].filter(Number.isFinite);
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  const pad = Math.max((hi - lo) * 0.1, hi * 0.02, 0.5);
  lo = Math.max(0, lo - pad);
  hi += pad;
  const x = (t: number): number => LEFT + (t / tMax) * (WIDTH - LEFT - RIGHT);
  const y = (v: number): number => y0 + PANEL_H - ((v - lo) / (hi - lo)) * PANEL_H;
  parts.push(`<text x="${LEFT}" y="${y0 - 8}" font-weight="bold">${esc(p.title)}</text>`);
  parts.push(`<rect x="${LEFT}" y="${y0}" width="${WIDTH - LEFT - RIGHT}" height="${PANEL_H}" fill="none" stroke="#ccc"/>`);
  for (const v of [lo, (lo + hi) / 2, hi]) {
    parts.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${nice(v)} ${esc(p.unit)}</text>`);
  }
  if (p.target) {
    const ty = y(p.target.value).toFixed(1);
    parts.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${ty}" y2="${ty}" stroke="#c33" stroke-dasharray="5,4"/>`);
    parts.push(`<text x="${WIDTH - RIGHT - 4}" y="${Number(ty) - 4}" text-anchor="end" fill="#c33">${esc(p.target.label)}</text>`);
  }
  p.series.forEach((s, i) => {
    const pts = s.values.map((v, j) => `${x(ts[j]!).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    // Legend to the right of the title, in the series' colours, so it never sits on a line.
    parts.push(`<text x="${WIDTH - RIGHT - (p.series.length - i) * 130}" y="${y0 - 8}" fill="${s.color}">— ${esc(s.label)}</text>`);
  });
  for (let k = 0; k <= 4; k++) {
    const t = (tMax * k) / 4;
    parts.push(`<text x="${x(t).toFixed(1)}" y="${y0 + PANEL_H + 14}" text-anchor="middle" fill="#555">${(t / 60).toFixed(1)} min</text>`);
  }
}

export function soakChart(samples: Sample[], fds: { before: number; after: number }, title: string): string {
  const ts = samples.map((s) => s.t);
  const warm = warmSample(samples);
  const panels: Panel[] = [
    {
      title: 'berthd memory', unit: 'MB',
      series: [
        { label: 'RSS', color: '#1f6fd1', values: samples.map((s) => s.rssMb) },
        { label: 'heap total', color: '#999', values: samples.map((s) => s.heapTotalMb) },
        { label: 'heap used', color: '#e08a00', values: samples.map((s) => s.heapUsedMb) },
      ],
      target: { value: warm.rssMb + RSS_GROWTH_MB, label: `RSS target at the end (+${RSS_GROWTH_MB} MB on ${Math.round(warm.t)} s)` },
    },
    {
      title: `berthd open fds (settled with the load stopped: ${fds.before} before, ${fds.after} after)`, unit: '',
      series: [{ label: 'fds', color: '#1f6fd1', values: samples.map((s) => s.fds) }],
    },
    {
      title: 'berthd event-loop delay per 5 s window', unit: 'ms',
      series: [
        { label: 'p99', color: '#1f6fd1', values: samples.map((s) => s.loopP99Ms) },
        { label: 'p50', color: '#777', values: samples.map((s) => s.loopP50Ms) },
        { label: 'p99 since the start', color: '#2a9d4a', values: samples.map((s) => s.loopP99SinceStartMs) },
      ],
      target: { value: LOOP_P99_MS, label: `p99 target (< ${LOOP_P99_MS} ms)` },
    },
  ];
  const height = TOP + panels.length * (PANEL_H + GAP) + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((p, i) => drawPanel(parts, p, ts, TOP + 20 + i * (PANEL_H + GAP)));
  parts.push('</svg>');
  return parts.join('\n');
}
