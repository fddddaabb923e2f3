import { defaults } from './config.js';
import { logStudentTUpperTail } from './stats.js';
import type { WatermarkKey } from './watermarkKey.js';

export type Decision = 'match' | 'no match';

export interface Score {
  /** Pearson correlation of the extracted values with the key values. */
  readonly r: number;
  readonly n: number;
  /** One-sided p-value that an unrelated model reaches r, Bonferroni-corrected for `comparisons`. */
  readonly pValue: number;
  /** log10 of pValue, finite even where pValue underflows to 0. */
  readonly log10p: number;
  /** Fraction of positions whose extracted sign differs from the key's. */
  readonly ber: number;
  readonly decision: Decision;
  readonly fpr: number;
  readonly comparisons: number;
}

export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) return 0;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Groups with fewer positions than this are left out of a grouped score: their spread is unknowable. */
const minGroup = 3;

/**
 * Z-scores a and b within each group and keeps the positions of groups large enough to standardise.
 * Returns the kept values and how many groups they span.
 */
function standardizeByGroup(a: ArrayLike<number>, b: ArrayLike<number>, groups: ArrayLike<number>): { a: Float64Array; b: Float64Array; groups: number } {
  const members = new Map<number, number[]>();
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    const list = members.get(g) ?? [];
    list.push(i);
    members.set(g, list);
  }
  const outA: number[] = [];
  const outB: number[] = [];
  let used = 0;
  const z = (v: ArrayLike<number>, idx: number[]) => {
    let m = 0;
    for (const i of idx) m += v[i]!;
    m /= idx.length;
    let q = 0;
    for (const i of idx) q += (v[i]! - m) ** 2;
    const sd = Math.sqrt(q / idx.length);
    return idx.map((i) => (sd > 0 ? (v[i]! - m) / sd : 0));
  };
  for (const idx of members.values()) {
    if (idx.length < minGroup) continue;
    used++;
    outA.push(...z(a, idx));
    outB.push(...z(b, idx));
  }
  return { a: Float64Array.from(outA), b: Float64Array.from(outB), groups: used };
}

/**
 * Scores extracted values against a key's values: under H0 (the suspect is unrelated, its weights
 * independent of the key) t = r·√(ν/(1−r²)) follows Student's t with ν degrees of freedom; the p-value
 * is its exact one-sided tail. The decision is 'match' when the corrected p-value is below fpr.
 *
 * With `groups` (the tensor of each position), both sides are z-scored within each tensor first. Pooling
 * raw values across tensors is miscalibrated: the key's values and any same-architecture model share the
 * same per-tensor scale pattern, so a few large-scale positions dominate r and unrelated models reached
 * p < 0.01 six times too often (100 random LeNet5s, test/align-null-study.ts). Within-tensor z-scores
 * also make r blind to per-tensor rescaling. ν = n − (groups) − 1: each group spends a degree of freedom
 * on its mean.
 * @throws Error when the arrays differ in length or too few positions remain.
 */
export function scoreWatermark(
  extracted: ArrayLike<number>,
  keyValues: ArrayLike<number>,
  opts: { fpr?: number; comparisons?: number; groups?: ArrayLike<number> } = {},
): Score {
  if (extracted.length !== keyValues.length) throw new Error(`Extracted ${extracted.length} values but the key holds ${keyValues.length}`);
  if (opts.groups && opts.groups.length !== extracted.length) throw new Error(`${opts.groups.length} group labels for ${extracted.length} values`);
  const fpr = opts.fpr ?? defaults.score.fpr;
  const comparisons = Math.max(1, Math.floor(opts.comparisons ?? 1));
  let finite = true;
  for (let i = 0; i < extracted.length; i++) if (!Number.isFinite(extracted[i]!)) finite = false;
  const grouped = opts.groups && finite ? standardizeByGroup(extracted, keyValues, opts.groups) : undefined;
  const x = grouped ? grouped.a : extracted;
  const y = grouped ? grouped.b : keyValues;
  const n = x.length;
  const nu = n - (grouped ? grouped.groups : 1) - 1;
  if (nu < 1) throw new Error(`A score needs more positions: ${n} usable in ${grouped?.groups ?? 1} group(s)`);
  const r = finite ? pearson(x, y) : 0;
  // r = ±1 would make t infinite; the nearest double below keeps log10p finite and ordered.
  const r2 = Math.min(r * r, 1 - 2 ** -52);
  const t = (r >= 0 ? 1 : -1) * Math.sqrt((nu * r2) / (1 - r2));
  const lnP = logStudentTUpperTail(t, nu) + Math.log(comparisons);
  const log10p = Math.min(0, lnP / Math.LN10);
  let signErrors = 0;
  for (let i = 0; i < extracted.length; i++) if (extracted[i]! > 0 !== keyValues[i]! > 0) signErrors++;
  const pValue = Math.pow(10, log10p);
  return { r, n, pValue, log10p, ber: signErrors / extracted.length, decision: pValue < fpr ? 'match' : 'no match', fpr, comparisons };
}

/** The score of values extracted with a key: standardised within each keyed tensor (see scoreWatermark). */
export function scoreAgainstKey(extracted: ArrayLike<number>, key: WatermarkKey, opts: { fpr?: number; comparisons?: number } = {}): Score {
  return scoreWatermark(extracted, key.values, { ...opts, groups: key.tensorIndex });
}
