import { paramSpecs, type Architecture } from '../src/core/architectures.js';
import { initParams } from '../src/core/init.js';

/** Largest absolute difference relative to the largest reference magnitude: one number per gradient check. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-12);
}

/** Parameters with running statistics, shifts and scales away from their initial values, so every batch-norm tensor matters. */
export function trainedLooking(arch: Architecture, seed: number): Float32Array[] {
  return initParams(arch, seed).map((p, i) => {
    const role = paramSpecs(arch)[i]!.role;
    if (role === 'movingMean' || role === 'beta' || role === 'bias') return p.map((_, j) => 0.1 * Math.sin(j + seed));
    if (role === 'movingVariance' || role === 'gamma') return p.map((_, j) => 0.8 + 0.3 * Math.cos(j * 0.7 + seed) ** 2);
    return p;
  });
}
