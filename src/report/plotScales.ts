/** The axes of a sweep plot: tick values, the accuracy axis's zoom, and which x labels fit. Pure numbers, no SVG. */

/** Round tick values from lo to hi, about `count` of them, at a step of 1, 2, 2.5 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const step = niceStep(lo, hi, count);
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) ticks.push(Math.abs(v) < 1e-12 ? 0 : Number(v.toPrecision(12)));
  return ticks;
}

function niceStep(lo: number, hi: number, count: number): number {
  const raw = (hi - lo || 1) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
}

/** The foot of the score axis (its top is r = 1): 0, or lower in tenths when a score is negative. */
export function scoreAxisLow(rs: readonly number[]): number {
  return Math.floor(Math.min(0, ...rs.filter(Number.isFinite)) * 10) / 10;
}

/** Below this, a zoomed accuracy axis would save little room: it starts at 0 and needs no break. */
const ZOOM_FROM = 0.3;

/**
 * The accuracy axis for these accuracies and the accuracy floor (its dashed line is always in view):
 * [0, 1] when the data reach low anyway, else zoomed to the data with a margin, ends on round ticks, so
 * that 94% and 98.6% are far apart. `broken` says the axis does not start at 0 (the plot marks it).
 */
export function accuracyRange(accuracies: readonly number[], floor: number): { lo: number; hi: number; broken: boolean } {
  const finite = accuracies.filter(Number.isFinite);
  const dataLo = Math.min(floor, ...finite);
  const dataHi = Math.max(floor, ...finite);
  const margin = Math.max(dataHi - dataLo, 0.02) * 0.1;
  const step = niceStep(dataLo - margin, dataHi + margin, 5);
  const lo = Math.floor((dataLo - margin) / step) * step;
  if (lo < ZOOM_FROM) return { lo: 0, hi: 1, broken: false };
  return { lo: Number(lo.toPrecision(12)), hi: Math.min(1, Number((Math.ceil((dataHi + margin) / step) * step).toPrecision(12))), broken: true };
}

/** Rough width of a label at 12 px Helvetica: digits and most letters are about 0.55 em. */
export const labelWidth = (text: string): number => text.length * 6.6 + 2;

/**
 * Which labels to draw along an axis so that none overlaps the next (at least `gap` px apart): greedy
 * from the left; the last label always stays (the end of the range), dropping the kept ones it would hit.
 * @returns the indices of the labels to draw, in order.
 */
export function fittingLabels(centres: readonly number[], widths: readonly number[], gap = 4): number[] {
  const order = centres.map((c, i) => ({ c, i })).sort((a, b) => a.c - b.c);
  const clear = (a: { c: number; i: number }, b: { c: number; i: number }) => Math.abs(b.c - a.c) >= (widths[a.i]! + widths[b.i]!) / 2 + gap;
  const kept: { c: number; i: number }[] = [];
  for (const t of order) if (kept.length === 0 || clear(kept[kept.length - 1]!, t)) kept.push(t);
  const last = order[order.length - 1];
  if (last && kept[kept.length - 1] !== last) {
    while (kept.length > 0 && !clear(kept[kept.length - 1]!, last)) kept.pop();
    kept.push(last);
  }
  return kept.map((t) => t.i);
}
