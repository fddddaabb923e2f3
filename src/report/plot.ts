/**
 * A dependency-free SVG chart of a sweep, in the style of the paper's robustness figures: attack
 * strength on x; left panel the watermark score r (with the decision threshold dashed), right panel the
 * test accuracy (with the accuracy floor dashed); one line with markers per model, a shared legend.
 * Every series is one <path class="series">; a point that could not be scored (r NaN) breaks the line
 * and is drawn as an × near the bottom of the score panel.
 */
import type { SweepResult } from '../attacks/sweep.js';

export interface PlotOptions {
  readonly width?: number;
  readonly height?: number;
  /** 'auto': logarithmic when all strengths are > 0 and span more than two decades. */
  readonly xScale?: 'linear' | 'log' | 'auto';
  readonly title?: string;
}

const palette = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const markers = ['circle', 'square', 'triangle', 'diamond'] as const;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : Number(v.toPrecision(3)).toString();
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) ticks.push(Math.abs(v) < 1e-12 ? 0 : Number(v.toPrecision(12)));
  return ticks;
}

function marker(kind: (typeof markers)[number], x: number, y: number, color: string): string {
  const s = 3.5;
  const a = `fill="${color}" stroke="${color}"`;
  switch (kind) {
    case 'circle':
      return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${s}" ${a}/>`;
    case 'square':
      return `<rect x="${(x - s).toFixed(1)}" y="${(y - s).toFixed(1)}" width="${2 * s}" height="${2 * s}" ${a}/>`;
    case 'triangle':
      return `<polygon points="${x.toFixed(1)},${(y - s - 1).toFixed(1)} ${(x - s - 0.5).toFixed(1)},${(y + s).toFixed(1)} ${(x + s + 0.5).toFixed(1)},${(y + s).toFixed(1)}" ${a}/>`;
    case 'diamond':
      return `<polygon points="${x.toFixed(1)},${(y - s - 1).toFixed(1)} ${(x + s + 1).toFixed(1)},${y.toFixed(1)} ${x.toFixed(1)},${(y + s + 1).toFixed(1)} ${(x - s - 1).toFixed(1)},${y.toFixed(1)}" ${a}/>`;
  }
}

interface Panel {
  readonly id: string;
  readonly label: string;
  readonly lo: number;
  readonly hi: number;
  readonly value: (p: { accuracy: number; r: number }) => number;
  readonly dashed: { readonly at: number; readonly label: string } | null;
  readonly percent: boolean;
}

/** Renders the sweep as a standalone SVG document. */
export function plotSweep(result: SweepResult, opts: PlotOptions = {}): string {
  const W = opts.width ?? 860;
  const H = opts.height ?? 360;
  const strengths = [...new Set(result.series.flatMap((s) => s.points.map((p) => p.strength)))].sort((a, b) => a - b);
  const xmin0 = strengths[0] ?? 0;
  const xmax0 = strengths[strengths.length - 1] ?? 1;
  const log = opts.xScale === 'log' || (opts.xScale !== 'linear' && xmin0 > 0 && xmax0 / xmin0 > 100);
  const tx = (v: number) => (log ? Math.log10(v) : v);
  let [xlo, xhi] = [tx(xmin0), tx(xmax0)];
  if (xlo === xhi) [xlo, xhi] = [xlo - 1, xhi + 1];
  const pad = (xhi - xlo) * 0.05;
  [xlo, xhi] = [xlo - pad, xhi + pad];

  const rs = result.series.flatMap((s) => s.points.map((p) => p.r)).filter(Number.isFinite);
  const rlo = Math.min(0, Math.floor(Math.min(...rs, 0) * 10) / 10);
  const panels: Panel[] = [
    { id: 'score', label: 'watermark score r', lo: rlo, hi: 1, value: (p) => p.r, dashed: result.rThreshold !== null ? { at: result.rThreshold, label: `detection threshold r=${fmt(result.rThreshold)}` } : null, percent: false },
    { id: 'accuracy', label: 'test accuracy (%)', lo: 0, hi: 1, value: (p) => p.accuracy, dashed: { at: result.accuracyFloor, label: `${fmt(result.accuracyFloor * 100)}%` }, percent: true },
  ];

  const top = 58;
  const bottom = 52;
  const left = 62;
  const gap = 70;
  const right = 20;
  const pw = (W - left - right - gap) / 2;
  const ph = H - top - bottom;
  const title = opts.title ?? `${result.attack.title}${result.invariant ? ' (invariant alignment)' : ''}`;
  const xLabel = `${result.attack.strengthName}${result.attack.unit && result.attack.unit !== result.attack.strengthName ? ` (${result.attack.unit})` : ''}`;
  const reverse = result.attack.decreasing;
  let unscored = false;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);

  panels.forEach((panel, pi) => {
    const x0 = left + pi * (pw + gap);
    const X = (v: number) => {
      const f = (tx(v) - xlo) / (xhi - xlo);
      return x0 + (reverse ? 1 - f : f) * pw;
    };
    const Y = (v: number) => top + (1 - (v - panel.lo) / (panel.hi - panel.lo)) * ph;
    parts.push(`<g class="panel" id="${panel.id}">`);
    for (const t of niceTicks(panel.lo, panel.hi, 5)) {
      parts.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
      parts.push(`<text x="${x0 - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${panel.percent ? fmt(t * 100) : fmt(t)}</text>`);
    }
    const xticks = strengths.length <= 10 ? strengths : niceTicks(xmin0, xmax0, 6);
    for (const t of xticks) {
      parts.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${top + ph}" y2="${top + ph + 4}" stroke="#333"/>`);
      parts.push(`<text x="${X(t).toFixed(1)}" y="${top + ph + 17}" text-anchor="middle">${result.attack.unit === '%' ? fmt(t * 100) : fmt(t)}</text>`);
    }
    parts.push(`<rect x="${x0}" y="${top}" width="${pw.toFixed(1)}" height="${ph}" fill="none" stroke="#333"/>`);
    parts.push(`<text x="${(x0 + pw / 2).toFixed(1)}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}${log ? ' [log]' : ''}</text>`);
    parts.push(`<text transform="translate(${x0 - 44},${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(panel.label)}</text>`);
    if (panel.dashed && panel.dashed.at >= panel.lo && panel.dashed.at <= panel.hi) {
      const y = Y(panel.dashed.at).toFixed(1);
      parts.push(`<line class="threshold" x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`);
      parts.push(`<text x="${(x0 + pw - 4).toFixed(1)}" y="${(Number(y) - 4).toFixed(1)}" text-anchor="end" fill="#555" font-size="10">${esc(panel.dashed.label)}</text>`);
    }
    result.series.forEach((s, si) => {
      const color = palette[si % palette.length]!;
      let d = '';
      let pen = false;
      const dots: string[] = [];
      for (const p of s.points) {
        const v = panel.value(p);
        if (!Number.isFinite(v)) {
          pen = false;
          const x = X(p.strength);
          const y = top + ph - 8 - si * 10;
          dots.push(`<path class="unscored" d="M${(x - 4).toFixed(1)} ${(y - 4).toFixed(1)} L${(x + 4).toFixed(1)} ${(y + 4).toFixed(1)} M${(x - 4).toFixed(1)} ${(y + 4).toFixed(1)} L${(x + 4).toFixed(1)} ${(y - 4).toFixed(1)}" stroke="${color}" stroke-width="2"><title>${esc(s.model)}: not scorable${p.error ? ` (${esc(p.error.slice(0, 120))})` : ''}</title></path>`);
          unscored = true;
          continue;
        }
        const x = X(p.strength);
        const y = Y(Math.max(panel.lo, Math.min(panel.hi, v)));
        d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)} `;
        pen = true;
        dots.push(marker(markers[si % markers.length]!, x, y, color));
      }
      parts.push(`<path class="series" data-model="${esc(s.model)}" d="${d.trim() || `M${x0} ${top}`}" fill="none" stroke="${color}" stroke-width="2"${d ? '' : ' visibility="hidden"'}/>`);
      parts.push(...dots);
    });
    parts.push('</g>');
  });

  const lx = left;
  result.series.forEach((s, si) => {
    const color = palette[si % palette.length]!;
    const x = lx + si * 150;
    parts.push(`<g class="legend"><line x1="${x}" x2="${x + 24}" y1="38" y2="38" stroke="${color}" stroke-width="2"/>${marker(markers[si % markers.length]!, x + 12, 38, color)}<text x="${x + 30}" y="42">${esc(s.model)}</text></g>`);
  });
  if (unscored) parts.push(`<text class="note" x="${W - right}" y="42" text-anchor="end" fill="#555" font-size="11">× = no score (alignment refused the suspect)</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
