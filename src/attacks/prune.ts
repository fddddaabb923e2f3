/**
 * Magnitude pruning: the smallest |w| set to exactly zero. Kernels only (biases are a rounding error of
 * the parameter count and pruning them is not customary). 'layer': each kernel loses exactly
 * round(fraction · size) weights; 'global': one threshold over all kernels together, exactly
 * round(fraction · total) weights zeroed. Ties are broken by position, so the result is deterministic.
 */
import type { ParamSet } from '../core/paramSet.js';
import { isKernel, mapTensors } from './tensors.js';

export type PruneScope = 'layer' | 'global';

/** Indices of `abs` sorted by increasing magnitude (stable). */
function orderByMagnitude(abs: Float32Array): Uint32Array {
  const idx = new Uint32Array(abs.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => abs[a]! - abs[b]! || a - b);
}

/** @throws Error when fraction is outside [0, 1]. */
export function pruneMagnitude(set: ParamSet, fraction: number, scope: PruneScope = 'layer'): ParamSet {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`pruning fraction must be in [0, 1], got ${fraction}`);
  if (scope === 'layer') {
    return mapTensors(set, (t) => {
      const out = new Float32Array(t.data);
      if (!isKernel(t)) return out;
      const k = Math.round(fraction * out.length);
      const order = orderByMagnitude(out.map(Math.abs));
      for (let i = 0; i < k; i++) out[order[i]!] = 0;
      return out;
    });
  }
  const kernels = set.tensors.filter(isKernel);
  const total = kernels.reduce((s, t) => s + t.data.length, 0);
  const abs = new Float32Array(total);
  let off = 0;
  for (const t of kernels) {
    for (let i = 0; i < t.data.length; i++) abs[off + i] = Math.abs(t.data[i]!);
    off += t.data.length;
  }
  const order = orderByMagnitude(abs);
  const k = Math.round(fraction * total);
  const zero = new Uint8Array(total);
  for (let i = 0; i < k; i++) zero[order[i]!] = 1;
  off = 0;
  return mapTensors(set, (t) => {
    const out = new Float32Array(t.data);
    if (!isKernel(t)) return out;
    for (let i = 0; i < out.length; i++) if (zero[off + i]) out[i] = 0;
    off += out.length;
    return out;
  });
}
