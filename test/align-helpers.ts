/**
 * Fixtures for the alignment tests (not a test file itself): a seeded PRNG, random networks for an
 * architecture, keys, the function-preserving attacks (permute units, rescale units, add dummy units),
 * the PyTorch layout, a tiny forward pass to check the attacks really preserve the function, and
 * Pearson r with its p-value.
 */
import { activationShapes, chainLayers, paramSpecs, type Architecture } from '../src/core/architectures.js';
import type { ParamSet, ParamTensor } from '../src/core/paramSet.js';
import type { WatermarkKey } from '../src/core/watermarkKey.js';
import { flattenChwToHwc, transpose } from '../src/core/align/tensorOps.js';

export type Rng = () => number;

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function rngFrom(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gauss(rng: Rng): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

export const tinyConv: Architecture = {
  name: 'tiny-conv',
  description: 'test: conv 4@3x3, pool 2, conv 6@3x3, flatten, dense 12, dense 5',
  inputShape: [10, 10, 2],
  classes: 5,
  layers: [
    { type: 'conv2d', name: 'conv1', filters: 4, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'maxPool', size: 2 },
    { type: 'conv2d', name: 'conv2', filters: 6, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 12, activation: 'relu' },
    { type: 'dense', name: 'fc2', units: 5, activation: 'none' },
  ],
};

export const tinyMlp: Architecture = {
  name: 'tiny-mlp',
  description: 'test: dense 16, dense 16, dense 4 on 4x4x1 inputs (two hidden layers of one shape)',
  inputShape: [4, 4, 1],
  classes: 4,
  layers: [
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 16, activation: 'relu' },
    { type: 'dense', name: 'fc2', units: 16, activation: 'relu' },
    { type: 'dense', name: 'fc3', units: 4, activation: 'none' },
  ],
};

/** He-normal kernels, small random biases, in canonical layout. */
export function randomParams(arch: Architecture, rng: Rng): ParamSet {
  return {
    arch: arch.name,
    tensors: paramSpecs(arch).map((s) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const sd = s.role === 'kernel' ? Math.sqrt(2 / s.fanIn) : 0.05;
      return { name: s.name, shape: [...s.shape], data: Float32Array.from({ length: n }, () => gauss(rng) * sd) };
    }),
  };
}

/**
 * A key of n positions spread over all tensors in proportion to size, values scale-matched (uniform in
 * ±2 std of the tensor); the values are written into `set` (it becomes the watermarked reference).
 */
export function embedKey(set: ParamSet, n: number, rng: Rng): WatermarkKey {
  const total = set.tensors.reduce((a, t) => a + t.data.length, 0);
  const chosen = new Set<number>();
  while (chosen.size < n) chosen.add(Math.floor(rng() * total));
  const tensorIndex: number[] = [];
  const flatIndex: number[] = [];
  const values: number[] = [];
  const sds = set.tensors.map((t) => Math.sqrt(t.data.reduce((a, v) => a + v * v, 0) / t.data.length));
  for (const g of [...chosen].sort((a, b) => a - b)) {
    let off = g;
    let ti = 0;
    while (off >= set.tensors[ti]!.data.length) off -= set.tensors[ti++]!.data.length;
    const t = set.tensors[ti]!;
    const v = Math.fround((rng() * 2 - 1) * 2 * sds[ti]!);
    t.data[off] = v;
    tensorIndex.push(ti);
    flatIndex.push(off);
    values.push(v);
  }
  return {
    format: 'weightmark-key',
    version: 1,
    id: 'test-key',
    arch: set.arch ?? 'unknown',
    valueKind: 'scale-matched',
    tensors: set.tensors.map((t) => ({ name: t.name, shape: [...t.shape] })),
    tensorIndex,
    flatIndex,
    values,
  };
}

export function extractAt(set: ParamSet, key: WatermarkKey): Float64Array {
  return Float64Array.from(key.values, (_, i) => {
    const name = key.tensors[key.tensorIndex[i]!]!.name;
    return set.tensors.find((t) => t.name === name)!.data[key.flatIndex[i]!]!;
  });
}

export interface AttackOptions {
  readonly permute?: boolean;
  /** Per-unit positive scales drawn log-uniform in [1/s, s]. */
  readonly scaleRange?: number;
  /** Dummy units added to every hidden layer (random incoming weights, zero outgoing). */
  readonly dummies?: number;
}

/** The function-preserving attacks on every hidden layer, canonical layout. */
export function obfuscate(set: ParamSet, arch: Architecture, rng: Rng, o: AttackOptions): ParamSet {
  const byName = new Map(set.tensors.map((t) => [t.name, { shape: [...t.shape], data: new Float32Array(t.data) }] as const));
  const layers = arch.layers.filter((l) => l.type === 'conv2d' || l.type === 'dense');
  const shapes = activationShapes(arch);
  for (let li = 0; li < layers.length - 1; li++) {
    const l = layers[li]!;
    const next = layers[li + 1]!;
    const k = byName.get(`${l.name}/kernel`)!;
    const b = byName.get(`${l.name}/bias`)!;
    const out = k.shape[k.shape.length - 1]!;
    const R = k.data.length / out;
    const d = o.dummies ?? 0;
    const perm = Array.from({ length: out }, (_, i) => i);
    if (o.permute) for (let i = out - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const s = Array.from({ length: out }, () => (o.scaleRange ? Math.exp((rng() * 2 - 1) * Math.log(o.scaleRange)) : 1));
    const out2 = out + d;
    const k2 = new Float32Array(R * out2);
    const b2 = new Float32Array(out2);
    for (let v = 0; v < out2; v++) {
      for (let r = 0; r < R; r++) k2[r * out2 + v] = v < out ? k.data[r * out + perm[v]!]! * s[perm[v]!]! : gauss(rng) * 0.1;
      b2[v] = v < out ? b.data[perm[v]!]! * s[perm[v]!]! : gauss(rng) * 0.05;
    }
    byName.set(`${l.name}/kernel`, { shape: [...k.shape.slice(0, -1), out2], data: k2 });
    byName.set(`${l.name}/bias`, { shape: [out2], data: b2 });
    // Next layer: rows for unit v come from old unit perm[v], divided by its scale; dummy rows are zero.
    const nk = byName.get(`${next.name}/kernel`)!;
    const nOut = nk.shape[nk.shape.length - 1]!;
    const flatIdx = arch.layers.indexOf(next) - 1;
    const P = nk.shape.length === 4 ? nk.shape[0]! * nk.shape[1]! : l.type === 'conv2d' ? shapes[flatIdx - 1]![0]! * shapes[flatIdx - 1]![1]! : 1;
    const nk2 = new Float32Array(P * out2 * nOut);
    for (let p = 0; p < P; p++) for (let v = 0; v < out; v++) for (let u = 0; u < nOut; u++) {
      nk2[(p * out2 + v) * nOut + u] = nk.data[(p * out + perm[v]!) * nOut + u]! / s[perm[v]!]!;
    }
    const nShape = nk.shape.length === 4 ? [nk.shape[0]!, nk.shape[1]!, out2, nOut] : [P * out2, nOut];
    byName.set(`${next.name}/kernel`, { shape: nShape, data: nk2 });
  }
  return { tensors: set.tensors.map((t) => ({ name: t.name, ...byName.get(t.name)! })) };
}

/**
 * The same model as PyTorch would name and lay it out: `conv1.weight` OIHW, `fc1.weight` [out,in]
 * with the first dense layer's inputs in CHW order, `*.bias`.
 */
export function toTorch(set: ParamSet, arch: Architecture): ParamSet {
  const out: ParamTensor[] = [];
  let prevConvChannels: number | undefined;
  arch.layers.forEach((l, i) => {
    if (l.type !== 'conv2d' && l.type !== 'dense') return;
    const k = set.tensors.find((t) => t.name === `${l.name}/kernel`)!;
    const b = set.tensors.find((t) => t.name === `${l.name}/bias`)!;
    let kt: { shape: readonly number[]; data: Float32Array };
    if (l.type === 'conv2d') {
      kt = transpose(k, [3, 2, 0, 1]);
      prevConvChannels = k.shape[3]!;
    } else {
      let hwcToChw = k as { shape: readonly number[]; data: Float32Array };
      const afterConv = prevConvChannels !== undefined && arch.layers[i - 1]?.type === 'flatten';
      if (afterConv) hwcToChw = chwFromHwc(k, prevConvChannels!);
      kt = transpose(hwcToChw, [1, 0]);
      prevConvChannels = undefined;
    }
    out.push({ name: `${l.name}.weight`, shape: [...kt.shape], data: kt.data });
    out.push({ name: `${l.name}.bias`, shape: [...b.shape], data: new Float32Array(b.data) });
  });
  return { tensors: out };
}

/** Inverse of flattenChwToHwc (checked against it in the tests). */
export function chwFromHwc(t: { shape: readonly number[]; data: Float32Array }, channels: number): { shape: number[]; data: Float32Array } {
  const [rows, cols] = t.shape as [number, number];
  const S = rows / channels;
  const out = new Float32Array(t.data.length);
  for (let s = 0; s < S; s++) for (let c = 0; c < channels; c++) {
    out.set(t.data.subarray((s * channels + c) * cols, (s * channels + c + 1) * cols), (c * S + s) * cols);
  }
  return { shape: [rows, cols], data: out };
}
export { flattenChwToHwc };

/** Forward pass (NHWC, canonical layout) of one input for the test architectures; dummy/extra units allowed. */
export function forward(set: ParamSet, arch: Architecture, input: Float32Array): Float32Array {
  let x = input;
  let shape: number[] = [...arch.inputShape];
  const get = (n: string): ParamTensor => set.tensors.find((t) => t.name === n)!;
  for (const l of chainLayers(arch, 'the reference')) {
    if (l.type === 'conv2d') {
      const k = get(`${l.name}/kernel`);
      const b = get(`${l.name}/bias`);
      const [h, w, c] = shape as [number, number, number];
      const [kh, kw, , co] = k.shape as [number, number, number, number];
      const oh = h - kh + 1;
      const ow = w - kw + 1;
      const y = new Float32Array(oh * ow * co);
      for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < co; o++) {
        let acc = b.data[o]!;
        for (let a = 0; a < kh; a++) for (let bb = 0; bb < kw; bb++) for (let ci = 0; ci < c; ci++) {
          acc += x[((i + a) * w + (j + bb)) * c + ci]! * k.data[((a * kw + bb) * c + ci) * co + o]!;
        }
        y[(i * ow + j) * co + o] = l.activation === 'relu' ? Math.max(0, acc) : acc;
      }
      x = y;
      shape = [oh, ow, co];
    } else if (l.type === 'maxPool') {
      const [h, w, c] = shape as [number, number, number];
      const oh = Math.floor(h / l.size);
      const ow = Math.floor(w / l.size);
      const y = new Float32Array(oh * ow * c).fill(-Infinity);
      for (let i = 0; i < oh * l.size; i++) for (let j = 0; j < ow * l.size; j++) for (let ci = 0; ci < c; ci++) {
        const o = (Math.floor(i / l.size) * ow + Math.floor(j / l.size)) * c + ci;
        y[o] = Math.max(y[o]!, x[(i * w + j) * c + ci]!);
      }
      x = y;
      shape = [oh, ow, c];
    } else if (l.type === 'flatten') {
      shape = [x.length];
    } else if (l.type === 'avgPool') {
      throw new Error('the reference forward pass models no average pool');
    } else {
      const k = get(`${l.name}/kernel`);
      const b = get(`${l.name}/bias`);
      const [nin, nout] = k.shape as [number, number];
      const y = new Float32Array(nout);
      for (let o = 0; o < nout; o++) {
        let acc = b.data[o]!;
        for (let i = 0; i < nin; i++) acc += x[i]! * k.data[i * nout + o]!;
        y[o] = l.activation === 'relu' ? Math.max(0, acc) : acc;
      }
      x = y;
      shape = [nout];
    }
  }
  return x;
}

export { pearson } from '../src/core/score.js';

/** One-sided p-value of r > 0 under independence (Fisher z, normal approximation). */
export function pValue(r: number, n: number): number {
  const z = Math.atanh(Math.max(-0.999999, Math.min(0.999999, r))) * Math.sqrt(n - 3);
  return 0.5 * erfc(z / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes erfcc, |error| < 1.2e-7.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851973 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function shuffled<T>(xs: readonly T[], rng: Rng): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
