/**
 * Inverted dropout's mask, 0 or 1/(1 − rate) per element, from a hash of (seed, layer, sample,
 * element): the mask of a sample is the same whichever worker or engine computes it and however the
 * batch is cut, so runs agree across thread counts and resumes. Elements in canonical (NHWC) order.
 */
export interface DropoutMaskSpec {
  readonly rate: number;
  /** The step's seed. */
  readonly seed: number;
  /** The dropout layer's index in the architecture. */
  readonly layer: number;
  /** Place of sample 0 in the step's whole batch. */
  readonly sampleOffset: number;
}

/** Fills `mask` (n samples, equal shares) with the masks of `spec`. */
export function dropoutMaskInto(mask: Float32Array, n: number, spec: DropoutMaskSpec): void {
  const per = mask.length / n;
  const keep = 1 / (1 - spec.rate);
  const threshold = Math.floor(spec.rate * 4294967296);
  const base = Math.imul(spec.seed >>> 0, 0x9e3779b1) ^ Math.imul(spec.layer + 1, 0x85ebca6b);
  for (let b = 0, o = 0; b < n; b++) {
    const sample = Math.imul(spec.sampleOffset + b + 1, 0xc2b2ae35) ^ base;
    for (let e = 0; e < per; e++, o++) {
      let z = (sample + Math.imul(e, 0x27d4eb2f)) | 0;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      z ^= z >>> 16;
      mask[o] = z >>> 0 < threshold ? 0 : keep;
    }
  }
}
