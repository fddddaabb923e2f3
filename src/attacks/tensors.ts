/** Small helpers shared by the attacks: copying a param set tensor by tensor, statistics, roles. */
import type { ParamSet, ParamTensor } from '../core/paramSet.js';

export function isKernel(t: ParamTensor): boolean {
  return t.name.endsWith('/kernel') || t.shape.length > 1;
}

/** A new param set whose tensors are `fn(tensor)` (a fresh Float32Array each); input untouched. */
export function mapTensors(set: ParamSet, fn: (t: ParamTensor) => Float32Array): ParamSet {
  return {
    ...(set.arch !== undefined ? { arch: set.arch } : {}),
    tensors: set.tensors.map((t) => {
      const data = fn(t);
      if (data === t.data) throw new Error(`attack returned the input array of '${t.name}' instead of a copy`);
      return { name: t.name, shape: [...t.shape], data };
    }),
  };
}

export function meanStd(a: Float32Array): { mean: number; std: number } {
  if (a.length === 0) return { mean: 0, std: 0 };
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length) };
}

/** Rounds half to even, as numpy's round and ONNX Runtime do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
