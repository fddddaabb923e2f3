/** Small dense-array helpers for alignment: axis permutation, row reordering, masked correlation. */

export interface DenseTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** numpy-style transpose: out.shape[i] = in.shape[perm[i]]. */
export function transpose(t: DenseTensor, perm: readonly number[]): DenseTensor {
  const rank = t.shape.length;
  if (perm.length !== rank) throw new Error(`transpose: perm [${perm}] does not fit rank ${rank}`);
  const outShape = perm.map((p) => t.shape[p]!);
  const inStrides = stridesOf(t.shape);
  const stepIn = perm.map((p) => inStrides[p]!); // stride in the input of each output axis
  const out = new Float32Array(t.data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = t.data[src]!;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      src += stepIn[ax]!;
      if (idx[ax]! < outShape[ax]!) break;
      src -= stepIn[ax]! * outShape[ax]!;
      idx[ax] = 0;
    }
  }
  return { shape: outShape, data: out };
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/**
 * Reorders the rows (axis 0) of a [rows, cols] matrix whose rows are a flatten in CHW order into HWC
 * order: HWC row s*C + c takes CHW row c*S + s (S spatial positions, C channels).
 */
export function flattenChwToHwc(t: DenseTensor, channels: number): DenseTensor {
  const [rows, cols] = t.shape as [number, number];
  const S = rows / channels;
  if (!Number.isInteger(S)) throw new Error(`flattenChwToHwc: ${rows} rows are not a multiple of ${channels} channels`);
  const out = new Float32Array(t.data.length);
  for (let s = 0; s < S; s++) {
    for (let c = 0; c < channels; c++) {
      out.set(t.data.subarray((c * S + s) * cols, (c * S + s + 1) * cols), (s * channels + c) * cols);
    }
  }
  return { shape: [rows, cols], data: out };
}

/** Drops axes of size 1. */
export function squeezeShape(shape: readonly number[]): number[] {
  return shape.filter((d) => d !== 1);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Pearson correlation of a and b over the entries where mask is 0 (mask 1 = excluded, e.g. keyed
 * positions). Returns 0 when fewer than 3 entries remain or either side is constant.
 */
export function maskedPearson(a: ArrayLike<number>, b: ArrayLike<number>, mask?: Uint8Array): number {
  let n = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < a.length; i++) {
    if (mask && mask[i]) continue;
    n++;
    sa += a[i]!;
    sb += b[i]!;
  }
  if (n < 3) return 0;
  const ma = sa / n;
  const mb = sb / n;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  for (let i = 0; i < a.length; i++) {
    if (mask && mask[i]) continue;
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    saa += da * da;
    sbb += db * db;
    sab += da * db;
  }
  if (saa <= 0 || sbb <= 0) return 0;
  return sab / Math.sqrt(saa * sbb);
}
