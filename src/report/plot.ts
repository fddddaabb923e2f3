/**
 * A dependency-free SVG chart of a sweep, in the style of the paper's robustness figures: attack
 * strength on x; left panel the watermark score r (with the decision threshold dashed), right panel the
 * test accuracy (with the accuracy floor dashed); one line with markers per model, a shared legend.
 *
 * Made to be read, not only drawn: the dashed lines are labelled above the panels, clear of the data;
 * the accuracy axis is zoomed to the data (marked by a break on the axis) so 94% and 98.6% are apart;
 * x labels that would collide are thinned (every point keeps its tick); each model keeps its colour and
 * marker in every plot (seriesSlots), its line is shifted a few pixels sideways and all but the first
 * slot's markers are hollow, so equal points of two models both show; and a point without a score
 * (r NaN) is not drawn on the r scale at all but in a "no score" row under it, with its own legend entry.
 * Every series is one <path class="series">, broken where a point has no value.
 */
import type { SweepPoint, SweepResult } from '../attacks/sweep.js';
import { accuracyRange, fittingLabels, labelWidth, niceTicks, scoreAxisLow } from './plotScales.js';

export interface PlotOptions {
  readonly width?: number;
  readonly height?: number;
  /** 'auto': logarithmic when all strengths are > 0 and span more than two decades. */
  readonly xScale?: 'linear' | 'log' | 'auto';
  readonly title?: string;
}

export const palette = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
export const markers = ['circle', 'square', 'triangle', 'diamond'] as const;
/** The reports' series, each with its own slot in the palette and markers. */
const NAMED_SLOTS = ['paper', 'default'];

/**
 * Each series' slot in the palette and markers: 'paper' and 'default' always their own, so a model has
 * one colour across a report's plots even where a section lacks the other series; any other name takes
 * the first slot left free, in order.
 */
export function seriesSlots(models: readonly string[]): number[] {
  const taken = new Set(models.map((m) => NAMED_SLOTS.indexOf(m)).filter((i) => i >= 0));
  let next = 0;
  return models.map((m) => {
    const named = NAMED_SLOTS.indexOf(m);
    if (named >= 0) return named;
    while (taken.has(next)) next++;
    taken.add(next);
    return next;
  });
}
/** Sideways shift between the lines of two models, in px: enough for two equal markers to show side by side. */
export const DODGE = 6;
/** Height of the "no score" row under a panel's scale. */
const NO_SCORE_ROW = 22;

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : Number(v.toPrecision(3)).toString();
}

export const f1 = (v: number): string => v.toFixed(1);

/** The x axis's title: the strength's name, with its unit when that says more. */
export function strengthAxisLabel(attack: SweepResult['attack']): string {
  return `${attack.strengthName}${attack.unit && attack.unit !== attack.strengthName ? ` (${attack.unit})` : ''}`;
}

/** A strength as an x tick: fractions in percent when the unit is '%'. */
export const strengthTick = (unit: string, v: number): string => (unit === '%' ? fmt(v * 100) : fmt(v));

/** A model's marker: filled for the first model, hollow (white inside) for the others. */
export function marker(kind: (typeof markers)[number], x: number, y: number, color: string, hollow: boolean): string {
  const s = 3.5;
  const a = `fill="${hollow ? '#ffffff' : color}" stroke="${color}"${hollow ? ' stroke-width="1.5"' : ''}`;
  switch (kind) {
    case 'circle':
      return `<circle cx="${f1(x)}" cy="${f1(y)}" r="${s}" ${a}/>`;
    case 'square':
      return `<rect x="${f1(x - s)}" y="${f1(y - s)}" width="${2 * s}" height="${2 * s}" ${a}/>`;
    case 'triangle':
      return `<polygon points="${f1(x)},${f1(y - s - 1)} ${f1(x - s - 0.5)},${f1(y + s)} ${f1(x + s + 0.5)},${f1(y + s)}" ${a}/>`;
    case 'diamond':
      return `<polygon points="${f1(x)},${f1(y - s - 1)} ${f1(x + s + 1)},${f1(y)} ${f1(x)},${f1(y + s + 1)} ${f1(x - s - 1)},${f1(y)}" ${a}/>`;
  }
}

/** The "no score" mark: a circle struck through, unlike any model's marker. */
export function noScoreMark(x: number, y: number, color: string, title?: string): string {
  const t = title ? `<title>${esc(title)}</title>` : '';
  return `<g class="unscored"><circle cx="${f1(x)}" cy="${f1(y)}" r="4.5" fill="#ffffff" stroke="${color}" stroke-width="1.5"/><line x1="${f1(x - 3.2)}" y1="${f1(y + 3.2)}" x2="${f1(x + 3.2)}" y2="${f1(y - 3.2)}" stroke="${color}" stroke-width="1.5"/>${t}</g>`;
}

interface Panel {
  readonly id: string;
  readonly label: string;
  readonly lo: number;
  readonly hi: number;
  /** The axis does not start at 0: a break is drawn at its foot. */
  readonly broken: boolean;
  readonly value: (p: SweepPoint) => number;
  readonly dashed: { readonly at: number; readonly label: string } | null;
  readonly percent: boolean;
}

function panelsOf(result: SweepResult): Panel[] {
  const points = result.series.flatMap((s) => s.points);
  const rlo = scoreAxisLow(points.map((p) => p.r));
  const acc = accuracyRange(points.map((p) => p.accuracy), result.accuracyFloor);
  return [
    {
      id: 'score', label: 'watermark score r', lo: rlo, hi: 1, broken: false, value: (p) => p.r, percent: false,
      dashed: result.rThreshold !== null ? { at: result.rThreshold, label: `detection threshold r = ${fmt(result.rThreshold)}` } : null,
    },
    {
      id: 'accuracy', label: acc.broken ? `test accuracy (%), axis from ${fmt(acc.lo * 100)}` : 'test accuracy (%)', lo: acc.lo, hi: acc.hi, broken: acc.broken,
      value: (p) => p.accuracy, percent: true, dashed: { at: result.accuracyFloor, label: `accuracy floor ${fmt(result.accuracyFloor * 100)}%` },
    },
  ];
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

  const top = 66;
  const bottom = 52;
  const left = 62;
  const gap = 70;
  const right = 20;
  const pw = (W - left - right - gap) / 2;
  const ph = H - top - bottom;
  const title = opts.title ?? `${result.attack.title}${result.invariant ? ' (invariant alignment)' : ''}`;
  const xLabel = strengthAxisLabel(result.attack);
  const reverse = result.attack.decreasing;
  const dodge = (si: number) => (result.series.length > 1 ? (si - (result.series.length - 1) / 2) * DODGE : 0);
  const slots = seriesSlots(result.series.map((s) => s.model));
  let unscored = false;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);

  panelsOf(result).forEach((panel, pi) => {
    const x0 = left + pi * (pw + gap);
    const X = (v: number) => {
      const f = (tx(v) - xlo) / (xhi - xlo);
      return x0 + (reverse ? 1 - f : f) * pw;
    };
    // Points without a value get their own row under the scale, outside the range of the values.
    const missing = result.series.some((s) => s.points.some((p) => !Number.isFinite(panel.value(p))));
    const scaleBottom = top + ph - (missing ? NO_SCORE_ROW : 0);
    const Y = (v: number) => top + (1 - (v - panel.lo) / (panel.hi - panel.lo)) * (scaleBottom - top);
    parts.push(`<g class="panel" id="${panel.id}">`);
    for (const t of niceTicks(panel.lo, panel.hi, 5)) {
      parts.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${f1(Y(t))}" y2="${f1(Y(t))}" stroke="#e5e5e5"/>`);
      parts.push(`<text class="ytick" x="${x0 - 6}" y="${f1(Y(t) + 4)}" text-anchor="end">${panel.percent ? fmt(t * 100) : fmt(t)}</text>`);
    }
    if (panel.broken) {
      // A zigzag across the axis at its foot: the scale does not start at 0.
      const yb = scaleBottom - 4;
      parts.push(`<path class="axis-break" d="M${x0 - 6} ${yb + 3} L${x0 - 2} ${yb - 3} L${x0 + 2} ${yb + 3} L${x0 + 6} ${yb - 3}" fill="none" stroke="#333" stroke-width="1.5"/>`);
    }
    if (missing) {
      const mid = scaleBottom + NO_SCORE_ROW / 2;
      parts.push(`<line class="no-score-row" x1="${x0}" x2="${x0 + pw}" y1="${scaleBottom}" y2="${scaleBottom}" stroke="#999"/>`);
      parts.push(`<text x="${x0 - 6}" y="${f1(mid + 4)}" text-anchor="end" font-size="10" fill="#555">no score</text>`);
    }
    const xticks = strengths.length <= 10 ? strengths : niceTicks(xmin0, xmax0, 6);
    const xtext = xticks.map((t) => strengthTick(result.attack.unit, t));
    const labelled = new Set(fittingLabels(xticks.map(X), xtext.map(labelWidth)));
    xticks.forEach((t, i) => {
      parts.push(`<line x1="${f1(X(t))}" x2="${f1(X(t))}" y1="${top + ph}" y2="${top + ph + 4}" stroke="#333"/>`);
      if (labelled.has(i)) parts.push(`<text class="xtick" x="${f1(X(t))}" y="${top + ph + 17}" text-anchor="middle">${xtext[i]}</text>`);
    });
    parts.push(`<rect x="${x0}" y="${top}" width="${f1(pw)}" height="${ph}" fill="none" stroke="#333"/>`);
    parts.push(`<text x="${f1(x0 + pw / 2)}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}${log ? ' [log]' : ''}</text>`);
    parts.push(`<text transform="translate(${x0 - 44},${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(panel.label)}</text>`);
    if (panel.dashed && panel.dashed.at >= panel.lo && panel.dashed.at <= panel.hi) {
      const y = f1(Y(panel.dashed.at));
      parts.push(`<line class="threshold" x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`);
      // Named above the panel, where no marker can sit, with a sample of the dash.
      const w = labelWidth(panel.dashed.label) * (10 / 12);
      parts.push(`<g class="threshold-label"><line x1="${f1(x0 + pw - w - 30)}" x2="${f1(x0 + pw - w - 6)}" y1="${top - 9}" y2="${top - 9}" stroke="#555" stroke-dasharray="6 4"/><text x="${f1(x0 + pw)}" y="${top - 5}" text-anchor="end" fill="#555" font-size="10">${esc(panel.dashed.label)}</text></g>`);
    }
    result.series.forEach((s, si) => {
      const slot = slots[si]!;
      const color = palette[slot % palette.length]!;
      let d = '';
      let pen = false;
      const dots: string[] = [];
      for (const p of s.points) {
        const v = panel.value(p);
        const x = X(p.strength) + dodge(si);
        if (!Number.isFinite(v)) {
          pen = false;
          dots.push(noScoreMark(x, scaleBottom + NO_SCORE_ROW / 2, color, `${s.model}: no score${p.error ? ` (${p.error.slice(0, 120)})` : ''}`));
          unscored = true;
          continue;
        }
        const y = Y(Math.max(panel.lo, Math.min(panel.hi, v)));
        d += `${pen ? 'L' : 'M'}${f1(x)} ${f1(y)} `;
        pen = true;
        dots.push(marker(markers[slot % markers.length]!, x, y, color, slot > 0));
      }
      parts.push(`<path class="series" data-model="${esc(s.model)}" d="${d.trim() || `M${x0} ${top}`}" fill="none" stroke="${color}" stroke-width="2"${d ? '' : ' visibility="hidden"'}/>`);
      parts.push(...dots);
    });
    parts.push('</g>');
  });

  let lx = left;
  result.series.forEach((s, si) => {
    const slot = slots[si]!;
    const color = palette[slot % palette.length]!;
    parts.push(`<g class="legend"><line x1="${lx}" x2="${lx + 24}" y1="38" y2="38" stroke="${color}" stroke-width="2"/>${marker(markers[slot % markers.length]!, lx + 12, 38, color, slot > 0)}<text x="${lx + 30}" y="42">${esc(s.model)}</text></g>`);
    lx += Math.max(150, 40 + labelWidth(s.model));
  });
  if (unscored) parts.push(`<g class="legend" id="no-score">${noScoreMark(lx + 12, 38, '#555')}<text x="${lx + 24}" y="42" fill="#555">no score (the alignment refused the suspect)</text></g>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
