/**
 * Stage (c): find tensors by content — the Pearson correlation of a suspect tensor, read under each
 * candidate layout, with the reference tensor. Keyed positions are masked out of every comparison, so
 * the choice never depends on the key's values (no manufactured match).
 */
import { solveAssignment } from '../linearAssignment.js';
import { applyLayout, type LayoutCandidate } from './layouts.js';
import { maskedPearson, sameShape, type DenseTensor } from './tensorOps.js';

export interface ContentScore {
  /** Best masked correlation over the candidates comparable with the reference (same shape), or -Infinity. */
  readonly score: number;
  /** Index into the candidates of the best one, or -1. */
  readonly best: number;
  /** How many candidates were scored. */
  readonly scored: number;
}

/** Positions a layout's correlation is estimated on: enough that its noise (≈ 1/√n ≈ 0.006) cannot flip a choice between layouts. */
const LAYOUT_SAMPLE = 32768;
/** Source index of every output position, per (suspect shape, layout): it depends on no weight, so it is computed once. */
const layoutIndexCache = new Map<string, Int32Array>();
const LAYOUT_INDEX_CACHE_MAX = 64;

function layoutIndex(shape: readonly number[], c: LayoutCandidate): Int32Array | undefined {
  const size = shape.reduce((a, d) => a * d, 1);
  if (size > 1 << 24) return undefined; // indices carried in float32 are exact only below 2^24
  const k = `${shape.join('x')}|${JSON.stringify(c)}`;
  let idx = layoutIndexCache.get(k);
  if (!idx) {
    const moved = applyLayout({ shape, data: Float32Array.from({ length: size }, (_, i) => i) }, c).data;
    idx = Int32Array.from(moved);
    if (layoutIndexCache.size >= LAYOUT_INDEX_CACHE_MAX) layoutIndexCache.delete(layoutIndexCache.keys().next().value!);
    layoutIndexCache.set(k, idx);
  }
  return idx;
}

/** Masked Pearson correlation of the suspect read under `idx` with the reference, on evenly strided positions. */
function sampledPearson(suspect: Float32Array, idx: Int32Array, reference: Float32Array, mask: Uint8Array): number {
  const step = Math.max(1, Math.floor(reference.length / LAYOUT_SAMPLE));
  let n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (let p = 0; p < reference.length; p += step) {
    if (mask[p]) continue;
    const a = suspect[idx[p]!]!;
    const b = reference[p]!;
    n++;
    sa += a;
    sb += b;
    saa += a * a;
    sbb += b * b;
    sab += a * b;
  }
  if (n < 3) return 0;
  const va = saa - (sa * sa) / n;
  const vb = sbb - (sb * sb) / n;
  return va > 0 && vb > 0 ? (sab - (sa * sb) / n) / Math.sqrt(va * vb) : 0;
}

/** Scores each layout candidate of one suspect tensor against the reference tensor. */
export function scoreLayouts(reference: DenseTensor, mask: Uint8Array, suspect: DenseTensor, cands: readonly LayoutCandidate[]): ContentScore {
  let score = -Infinity;
  let best = -1;
  let scored = 0;
  cands.forEach((c, i) => {
    if (!sameShape(c.shape, reference.shape)) return;
    const idx = reference.data.length > 2 * LAYOUT_SAMPLE ? layoutIndex(suspect.shape, c) : undefined;
    const r = idx ? sampledPearson(suspect.data, idx, reference.data, mask) : maskedPearson(applyLayout(suspect, c).data, reference.data, mask);
    scored++;
    if (r > score) {
      score = r;
      best = i;
    }
  });
  return { score, best, scored };
}

export interface ContentPair {
  readonly target: number;
  readonly suspect: number;
  /** The layout picked by content, or -1 when none was comparable. */
  readonly layout: number;
  readonly score: number;
}

/**
 * Assigns targets to suspects maximising the summed best correlation (exact assignment). `cands[t][s]`
 * lists the layout candidates of suspect s for target t (empty = incompatible). Returns the pairs and
 * how many (target, suspect, layout) candidates were scored.
 */
export function matchByContent(
  targets: readonly number[],
  suspects: readonly number[],
  cands: (t: number, s: number) => readonly LayoutCandidate[],
  reference: (t: number) => DenseTensor,
  mask: (t: number) => Uint8Array,
  suspect: (s: number) => DenseTensor,
): { pairs: ContentPair[]; scored: number } {
  const INCOMPATIBLE = 1e6;
  const UNCOMPARABLE = 10; // compatible but not comparable (shapes differ): worse than any correlation
  const cost = new Float64Array(targets.length * suspects.length).fill(INCOMPATIBLE);
  const info: ContentScore[] = [];
  let scored = 0;
  targets.forEach((t, ti) => {
    suspects.forEach((s, si) => {
      const cs = cands(t, s);
      if (cs.length === 0) return;
      const sc = scoreLayouts(reference(t), mask(t), suspect(s), cs);
      info[ti * suspects.length + si] = sc;
      scored += sc.scored;
      cost[ti * suspects.length + si] = sc.best >= 0 ? -sc.score : UNCOMPARABLE;
    });
  });
  const a = solveAssignment(cost, targets.length, suspects.length);
  const pairs: ContentPair[] = [];
  targets.forEach((t, ti) => {
    const si = a.rowToCol[ti]!;
    if (si < 0 || cost[ti * suspects.length + si]! >= INCOMPATIBLE) return;
    const sc = info[ti * suspects.length + si]!;
    pairs.push({ target: t, suspect: suspects[si]!, layout: sc.best, score: sc.score });
  });
  return { pairs, scored };
}
