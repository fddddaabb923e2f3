/**
 * Initial weights, pure (no tfjs), so that the trainer, the service's API process, benchmarks and tests
 * all start from the same seeded parameters.
 */
import { getArchitecture, paramSpecs, type Architecture } from './architectures.js';
import type { ParamSet } from './paramSet.js';

/**
 * Initial weights as PyTorch's defaults for Conv2d/Linear: kernels and biases uniform in ±1/√fanIn;
 * batch norm as BatchNorm2d's: scale 1, shift 0, running mean 0 and variance 1 (drawing nothing, so
 * the stream of the other tensors is the same with or without norms).
 * He-normal made LeNet5's first logits ~10x too large (initial loss 7.9 instead of 2.3) and SGD at
 * lr ≥ 0.03 with momentum diverged; PyTorch's scale also keeps our runs comparable with FINDINGS and the
 * PyTorch anchor. An architecture may ask for He-normal kernels and zero biases instead (`init: 'he'`).
 * Deterministic in `seed` (no Math.random), canonical order.
 */
export function initParams(arch: string | Architecture, seed: number): Float32Array[] {
  const a = typeof arch === 'string' ? getArchitecture(arch) : arch;
  const normal = gaussian(seed);
  return paramSpecs(a).map((s) => {
    const data = new Float32Array(s.shape.reduce((x, y) => x * y, 1));
    if (s.role === 'gamma' || s.role === 'movingVariance') return data.fill(1);
    if (s.role === 'beta' || s.role === 'movingMean') return data;
    if (a.init === 'he') {
      if (s.role === 'bias') return data;
      const std = Math.sqrt(2 / s.fanIn);
      for (let i = 0; i < data.length; i++) data[i] = std * normal();
      return data;
    }
    const bound = 1 / Math.sqrt(s.fanIn);
    // The CDF of a standard normal draw is uniform: reuses the seeded stream without a second generator.
    for (let i = 0; i < data.length; i++) data[i] = bound * (2 * normalCdf(normal()) - 1);
    return data;
  });
}

function normalCdf(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

/** Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7): plenty for drawing initial weights. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** Standard normal draws from a seeded splitmix32 stream (Box-Muller). */
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return (z + 0.5) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

/** The initial weights as a param set in canonical names and shapes. */
export function initialParamSet(arch: string | Architecture, seed: number): ParamSet {
  const a = typeof arch === 'string' ? getArchitecture(arch) : arch;
  const data = initParams(a, seed);
  return { arch: a.name, tensors: paramSpecs(a).map((spec, i) => ({ name: spec.name, shape: [...spec.shape], data: data[i]! })) };
}
