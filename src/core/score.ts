import { defaults } from './config.js';
import { logStudentTUpperTail } from './stats.js';

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

/**
 * Scores extracted values against a key's values: under H0 (the suspect is unrelated, its weights
 * independent of the key) t = r·√((n−2)/(1−r²)) follows Student's t with n−2 degrees of freedom; the
 * p-value is its exact one-sided tail. The decision is 'match' when the corrected p-value is below fpr.
 * @throws Error when the arrays differ in length or hold fewer than 3 values.
 */
export function scoreWatermark(
  extracted: ArrayLike<number>,
  keyValues: ArrayLike<number>,
  opts: { fpr?: number; comparisons?: number } = {},
): Score {
  const n = extracted.length;
  if (n !== keyValues.length) throw new Error(`Extracted ${n} values but the key holds ${keyValues.length}`);
  if (n < 3) throw new Error(`A score needs at least 3 positions, got ${n}`);
  const fpr = opts.fpr ?? defaults.score.fpr;
  const comparisons = Math.max(1, Math.floor(opts.comparisons ?? 1));
  let finite = true;
  for (let i = 0; i < n; i++) if (!Number.isFinite(extracted[i]!)) finite = false;
  const r = finite ? pearson(extracted, keyValues) : 0;
  // r = ±1 would make t infinite; the nearest double below keeps log10p finite and ordered.
  const r2 = Math.min(r * r, 1 - 2 ** -52);
  const t = (r >= 0 ? 1 : -1) * Math.sqrt(((n - 2) * r2) / (1 - r2));
  const lnP = logStudentTUpperTail(t, n - 2) + Math.log(comparisons);
  const log10p = Math.min(0, lnP / Math.LN10);
  let signErrors = 0;
  for (let i = 0; i < n; i++) if (extracted[i]! > 0 !== keyValues[i]! > 0) signErrors++;
  const pValue = Math.pow(10, log10p);
  return { r, n, pValue, log10p, ber: signErrors / n, decision: pValue < fpr ? 'match' : 'no match', fpr, comparisons };
}
