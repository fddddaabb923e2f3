/**
 * Gaussian noise relative to each tensor's spread: w ← w + N(0, (strength · std(tensor))²). A tensor
 * whose std is 0 (a freshly zeroed bias) is left as it is. `kernelsOnly` spares the biases.
 */
import type { ParamSet } from '../core/paramSet.js';
import { createRng } from './rng.js';
import { isKernel, mapTensors, meanStd } from './tensors.js';

/** @throws Error when strength is negative or not finite. */
export function addGaussianNoise(set: ParamSet, strength: number, seed: number, opts: { kernelsOnly?: boolean } = {}): ParamSet {
  if (!(strength >= 0) || !Number.isFinite(strength)) throw new Error(`noise strength must be a finite number ≥ 0, got ${strength}`);
  const rng = createRng(seed);
  return mapTensors(set, (t) => {
    const out = new Float32Array(t.data);
    if (opts.kernelsOnly && !isKernel(t)) return out;
    const sigma = strength * meanStd(t.data).std;
    if (sigma > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! + sigma * rng.normal();
    return out;
  });
}
