/**
 * Scale-free pooling across tensors. Pooling extracted values of several tensors into one Pearson r
 * assumes they share a scale; a tensor rescaled by c (folded BatchNorm, a converter, an attack) and not
 * undone (no reference) pulls r down even though each tensor alone still matches perfectly. Z-scoring
 * the extracted values AND the key values within each tensor makes the pooled r the n-weighted mean of
 * the per-tensor correlations, invariant to any positive affine change of a tensor. It discards the
 * between-tensor differences of means and spreads, which carry little of the mark.
 */

/**
 * Z-scores `values` within each group (groups[i] = the tensor index of position i, e.g. key.tensorIndex).
 * Groups with fewer than 2 values or no spread become 0 (they then add nothing to a correlation).
 */
export function standardizeWithinTensors(values: ArrayLike<number>, groups: ArrayLike<number>): Float64Array {
  if (values.length !== groups.length) throw new Error(`standardizeWithinTensors: ${values.length} values but ${groups.length} group labels`);
  const sum = new Map<number, number>();
  const sq = new Map<number, number>();
  const cnt = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const g = groups[i]!;
    sum.set(g, (sum.get(g) ?? 0) + values[i]!);
    cnt.set(g, (cnt.get(g) ?? 0) + 1);
  }
  for (let i = 0; i < values.length; i++) {
    const g = groups[i]!;
    const d = values[i]! - sum.get(g)! / cnt.get(g)!;
    sq.set(g, (sq.get(g) ?? 0) + d * d);
  }
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const g = groups[i]!;
    const n = cnt.get(g)!;
    const sd = Math.sqrt(sq.get(g)! / n);
    out[i] = n < 2 || !(sd > 0) ? 0 : (values[i]! - sum.get(g)! / n) / sd;
  }
  return out;
}
