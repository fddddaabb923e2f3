/**
 * The score: does a suspect carry a key's values? Evidence is weighed per layer and for the whole key,
 * and combined into one p-value and a decision at the false-positive rate. docs/statistics.md states
 * the test, its assumptions and the measured null.
 *
 * Two statistics:
 * - **committed keys** (they carry `signal`: standard normal draws fixed by the key's commitment, of which
 *   the marked values are a monotone transform): the extracted values, z-scored within each tensor, are
 *   correlated with the signal, centred within each tensor. Under H0 (the suspect is independent of the
 *   key) the signal is i.i.d. N(0, 1) and the extraction a fixed vector, so t = r·√(ν/(1−r²)) is
 *   *exactly* Student's t with ν = n − G − 1 (the slope test of a regression with one intercept per
 *   tensor), whatever the weights look like. An intact mark reads r = corr(Q(Φ(z)), z) < 1: the values
 *   follow the layer's weight distribution, the signal is Gaussian (about 0.99 for LeNet5).
 * - **other keys** (uploaded ones, picture and message keys): Pearson r of values z-scored within each
 *   tensor, the same t approximation.
 */
import { defaults } from './config.js';
import { logStudentTUpperTail, normalCdf } from './stats.js';
import type { WatermarkKey } from './watermarkKey.js';
import { layerOfTensor } from './keyLayers.js';

export type Decision = 'match' | 'no match';
export type Combination = 'min' | 'fisher' | 'pooled';

export interface LayerScore {
  readonly layer: string;
  readonly n: number;
  readonly nu: number;
  readonly r: number;
  /** log10 of the layer's own one-sided p-value (uncorrected), floored like the combined one. */
  readonly log10p: number;
}

export interface Score {
  /** Correlation over every scored position (the pooled statistic). */
  readonly r: number;
  /** Positions scored. */
  readonly n: number;
  /** Combined p-value, corrected for every test made; never below the floor (see `atFloor`). */
  readonly pValue: number;
  /** log10 of pValue (≥ log10 of the floor). */
  readonly log10p: number;
  /** True when the evidence runs past the floor: the p-value is reported as "below pValue". */
  readonly atFloor: boolean;
  /** Fraction of positions whose extracted sign differs from the key's. */
  readonly ber: number;
  readonly decision: Decision;
  readonly fpr: number;
  /** Alignments tried (a Bonferroni factor). */
  readonly comparisons: number;
  readonly combination: Combination;
  readonly statistic: 'committed signal' | 'pearson within tensors';
  /** Variance inflation the t statistic was divided by (1 = none). */
  readonly inflation: number;
  readonly layers: readonly LayerScore[];
}

/**
 * No p-value is reported below this. A committed key's positions and signal come from AES-256-CTR
 * under a SHA-256-derived seed: a figure smaller than about 2⁻¹²⁸ would claim more than those
 * primitives guarantee, and far more than any null study can check. Beyond it reports say "p < 1e-38".
 */
export const P_FLOOR = 1e-38;
const LOG10_FLOOR = Math.log10(P_FLOOR);

/** Tensors with fewer positions than this are left out: a within-tensor centring leaves them no information. */
const MIN_GROUP = 3;

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

export interface ScoreOptions {
  readonly fpr?: number;
  /** Alignments tried to produce the extracted values (Bonferroni factor). */
  readonly comparisons?: number;
  /** Tensor of each position (values are standardised within it). */
  readonly groups?: ArrayLike<number>;
  /** Layer label of each group (groups sharing a label form one layer test). */
  readonly layerOfGroup?: (g: number) => string;
  /** 'signal': the reference is a committed signal, i.i.d. N(0, 1) under H0 (only centred); 'pearson': both sides z-scored. */
  readonly statistic?: 'signal' | 'pearson';
  readonly combination?: Combination;
  /** Divide t by √inflation: the measured variance inflation of r through the invariant alignment. */
  readonly inflation?: number;
  /** The marked values, for the sign error rate (default: the reference itself). */
  readonly marked?: ArrayLike<number>;
}

/**
 * Sums of one tensor's positions, enough to centre and standardise both sides within it and pool the
 * tensors of a layer in one pass: values are shifted by the tensor's first value so Σx² − n·x̄² keeps
 * its digits when a tensor sits far from zero.
 */
export interface GroupSums {
  n: number;
  sx: number;
  sxx: number;
  sy: number;
  syy: number;
  sxy: number;
  x0: number;
  y0: number;
}

export const MIN_GROUP_POSITIONS = MIN_GROUP;

export const emptySums = (): GroupSums => ({ n: 0, sx: 0, sxx: 0, sy: 0, syy: 0, sxy: 0, x0: 0, y0: 0 });

export function addToSums(g: GroupSums, x: number, y: number): void {
  if (g.n === 0) {
    g.x0 = x;
    g.y0 = y;
  }
  const dx = x - g.x0;
  const dy = y - g.y0;
  g.n++;
  g.sx += dx;
  g.sxx += dx * dx;
  g.sy += dy;
  g.syy += dy * dy;
  g.sxy += dx * dy;
}

/** Pooled within-group correlation of the groups selected; ν = n − groups − 1. */
function pooled(groups: readonly GroupSums[], keep: (g: number) => boolean, statistic: 'signal' | 'pearson'): { r: number; n: number; nu: number } {
  let num = 0;
  let dx = 0;
  let dy = 0;
  let n = 0;
  let used = 0;
  groups.forEach((g, i) => {
    if (g.n < MIN_GROUP || !keep(i)) return;
    const cxx = g.sxx - (g.sx * g.sx) / g.n;
    const cyy = g.syy - (g.sy * g.sy) / g.n;
    const cxy = g.sxy - (g.sx * g.sy) / g.n;
    // x is z-scored within the tensor; y too for 'pearson', only centred for a committed signal (its variance is known).
    const sdx = cxx > 0 ? Math.sqrt(cxx / g.n) : 0;
    const sdy = statistic === 'pearson' ? (cyy > 0 ? Math.sqrt(cyy / g.n) : 0) : 1;
    if (sdx === 0 || sdy === 0) return;
    used++;
    n += g.n;
    num += cxy / (sdx * sdy);
    dx += g.n;
    dy += statistic === 'pearson' ? g.n : cyy;
  });
  const r = dx > 0 && dy > 0 ? Math.max(-1, Math.min(1, num / Math.sqrt(dx * dy))) : 0;
  return { r, n, nu: n - used - 1 };
}

/**
 * A cheap lower bound of ln P(T_ν ≥ t): the normal tail, which Student's is heavier than, bounded below
 * by Mills' ratio φ(t)·t/(1+t²) past t = 3. Screening with it can only send more keys to the exact test.
 */
export function lnTailLowerBound(t: number): number {
  if (t < 3) return Math.log(Math.max(normalCdf(-t), 1e-300));
  return -0.5 * t * t - 0.5 * Math.log(2 * Math.PI) + Math.log(t / (1 + t * t));
}

/** t of a correlation r on ν degrees of freedom, divided by √inflation (+∞ at r = 1). */
export function tOf(r: number, nu: number, inflation: number): number {
  if (r >= 1) return Number.POSITIVE_INFINITY;
  return (r * Math.sqrt(nu / (1 - r * r))) / Math.sqrt(inflation);
}

/** ln P(T_ν ≥ t/√inflation) for the correlation r; exact r = 1 gives −∞ (the floor then applies). */
function lnTail(r: number, nu: number, inflation: number): number {
  if (nu < 1) return 0;
  if (r >= 1) return -Infinity;
  const t = (r * Math.sqrt(nu / (1 - r * r))) / Math.sqrt(inflation);
  return logStudentTUpperTail(t, nu);
}

/** ln of the upper tail of χ² with 2k degrees of freedom at x (closed form for even df). */
export function lnChiSquareEvenTail(x: number, k: number): number {
  if (!Number.isFinite(x)) return -Infinity;
  const h = x / 2;
  let term = 0;
  let lnSum = 0; // ln Σ_{j<k} h^j / j!, accumulated in log space
  for (let j = 0; j < k; j++) {
    term = j === 0 ? 0 : term + Math.log(h) - Math.log(j);
    lnSum = j === 0 ? 0 : Math.max(lnSum, term) + Math.log1p(Math.exp(-Math.abs(lnSum - term)));
  }
  return -h + lnSum;
}

const floorLog10 = (l: number): number => Math.max(LOG10_FLOOR, Math.min(0, l));

export interface CombineOptions {
  readonly fpr: number;
  readonly comparisons: number;
  readonly statistic: 'signal' | 'pearson';
  readonly combination: Combination;
  readonly inflation: number;
}

/**
 * The score from per-tensor sums: the pooled test, one test per layer, combined. Shared by the single
 * key scorer and the key bank (core/keyBank.ts), so both report the same numbers.
 * @throws Error when too few positions remain to test.
 */
export function scoreFromSums(groups: readonly GroupSums[], layerOf: readonly string[], ber: number, finite: boolean, o: CombineOptions): Score {
  const all = pooled(groups, () => true, o.statistic);
  // Not one finite value (a diverged model: NaN everywhere) is evidence of nothing: no match, as for a partly NaN one.
  if (!finite && all.n === 0) {
    return {
      r: 0, n: 0, pValue: 1, log10p: 0, atFloor: false, ber, decision: 'no match', fpr: o.fpr, comparisons: o.comparisons,
      combination: effectiveCombination(o.combination, o.statistic), statistic: o.statistic === 'signal' ? 'committed signal' : 'pearson within tensors', inflation: o.inflation, layers: [],
    };
  }
  if (all.nu < 1) throw new Error(`A score needs more positions: ${all.n} usable in ${groups.filter((g) => g.n >= MIN_GROUP).length} tensor(s)`);
  const pooledR = finite ? all.r : 0;
  const names = [...new Set(groups.map((g, i) => (g.n >= MIN_GROUP ? layerOf[i]! : undefined)).filter((x): x is string => x !== undefined))];
  const layers: LayerScore[] = names.map((name) => {
    const c = pooled(groups, (i) => layerOf[i] === name, o.statistic);
    const r = finite ? c.r : 0;
    return { layer: name, n: c.n, nu: c.nu, r, log10p: floorLog10(lnTail(r, c.nu, o.inflation) / Math.LN10) };
  }).filter((l) => l.n > 0);
  const testable = layers.filter((l) => l.nu >= 1);
  const lnPooled = lnTail(pooledR, all.nu, o.inflation);
  const combination = effectiveCombination(o.combination, o.statistic);
  let lnP: number;
  if (combination === 'pooled' || testable.length <= 1) {
    lnP = lnPooled;
  } else if (combination === 'fisher') {
    // Layers hold disjoint positions with independent signal: their p-values are independent under H0.
    const x = -2 * testable.reduce((a, l) => a + lnTail(l.r, l.nu, o.inflation), 0);
    lnP = lnChiSquareEvenTail(x, testable.length);
  } else {
    // The smallest of the pooled test and each layer's, Bonferroni-corrected over those L + 1 tests.
    const lnMin = Math.min(lnPooled, ...testable.map((l) => lnTail(l.r, l.nu, o.inflation)));
    lnP = lnMin + Math.log(testable.length + 1);
  }
  lnP += Math.log(o.comparisons);
  const raw = lnP / Math.LN10;
  const log10p = floorLog10(raw);
  const pValue = Math.pow(10, log10p);
  return {
    r: pooledR, n: all.n, pValue, log10p, atFloor: raw < LOG10_FLOOR, ber, decision: pValue < o.fpr ? 'match' : 'no match', fpr: o.fpr, comparisons: o.comparisons,
    combination, statistic: o.statistic === 'signal' ? 'committed signal' : 'pearson within tensors', inflation: o.inflation, layers,
  };
}

/**
 * Fisher's method needs independent layer tests. A committed signal gives them exactly (each layer's
 * draws are disjoint i.i.d. normals); the values of an uploaded key give no such guarantee, so those
 * keys fall back to the Bonferroni minimum, valid under any dependence.
 */
export function effectiveCombination(c: Combination, statistic: 'signal' | 'pearson'): Combination {
  return c === 'fisher' && statistic !== 'signal' ? 'min' : c;
}

/**
 * Scores extracted values against a reference (a committed signal or the key's values).
 * @throws Error when the arrays differ in length or too few positions remain to test.
 */
export function scoreWatermark(extracted: ArrayLike<number>, reference: ArrayLike<number>, opts: ScoreOptions = {}): Score {
  if (extracted.length !== reference.length) throw new Error(`Extracted ${extracted.length} values but the key holds ${reference.length}`);
  if (opts.groups && opts.groups.length !== extracted.length) throw new Error(`${opts.groups.length} group labels for ${extracted.length} values`);
  let finite = true;
  let signErrors = 0;
  const index = new Map<number, number>();
  const sums: GroupSums[] = [];
  const labels: number[] = [];
  for (let i = 0; i < extracted.length; i++) {
    const x = extracted[i]!;
    if (!Number.isFinite(x)) finite = false;
    if (x > 0 !== (opts.marked ?? reference)[i]! > 0) signErrors++;
    const label = opts.groups ? opts.groups[i]! : 0;
    let g = index.get(label);
    if (g === undefined) {
      g = sums.length;
      index.set(label, g);
      sums.push(emptySums());
      labels.push(label);
    }
    if (Number.isFinite(x)) addToSums(sums[g]!, x, reference[i]!);
  }
  // Layers listed in tensor order, whatever order the positions come in.
  const order = labels.map((_, i) => i).sort((a, b) => labels[a]! - labels[b]!);
  return scoreFromSums(
    order.map((i) => sums[i]!), order.map((i) => (opts.layerOfGroup ? opts.layerOfGroup(labels[i]!) : String(labels[i]!))),
    extracted.length > 0 ? signErrors / extracted.length : 1, finite,
    {
      fpr: opts.fpr ?? defaults.score.fpr, comparisons: Math.max(1, Math.floor(opts.comparisons ?? 1)), statistic: opts.statistic ?? 'pearson',
      combination: opts.combination ?? defaults.score.combination, inflation: Math.max(1, opts.inflation ?? 1),
    },
  );
}

/** The score of values extracted with a key, per layer and combined (see the module comment). */
export function scoreAgainstKey(extracted: ArrayLike<number>, key: WatermarkKey, opts: Omit<ScoreOptions, 'groups' | 'layerOfGroup' | 'statistic' | 'marked'> = {}): Score {
  const committed = key.signal !== undefined;
  return scoreWatermark(extracted, committed ? key.signal! : key.values, {
    ...opts,
    marked: key.values,
    groups: key.tensorIndex,
    layerOfGroup: (g) => layerOfTensor(key, g),
    statistic: committed ? 'signal' : 'pearson',
  });
}
