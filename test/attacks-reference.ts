/**
 * Test helpers for the attack tests (not a test file): tiny lenet-like and mlp architectures, a random
 * param set for them, and a plain-loop reference forward pass in the canonical layout (NHWC, HWIO,
 * [in, out], HWC flatten) that shares no code with the attacks.
 */
import { chainLayers, paramSpecs, type Architecture } from '../src/core/architectures.js';
import type { ParamSet } from '../src/core/paramSet.js';
import { createRng } from '../src/attacks/rng.js';

export const tinyLenet: Architecture = {
  name: 'tiny-lenet',
  description: 'conv 3@3x3, pool 2, conv 4@2x2, flatten, dense 5, dense 3',
  inputShape: [8, 8, 2],
  classes: 3,
  layers: [
    { type: 'conv2d', name: 'conv1', filters: 3, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'maxPool', size: 2 },
    { type: 'conv2d', name: 'conv2', filters: 4, kernel: 2, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 5, activation: 'relu' },
    { type: 'dense', name: 'fc2', units: 3, activation: 'none' },
  ],
};

export const tinyMlp: Architecture = {
  name: 'tiny-mlp',
  description: 'dense 6, dense 5, dense 3 on 4x4 inputs',
  inputShape: [4, 4, 1],
  classes: 3,
  layers: [
    { type: 'flatten' },
    { type: 'dense', name: 'fc1', units: 6, activation: 'relu' },
    { type: 'dense', name: 'fc2', units: 5, activation: 'relu' },
    { type: 'dense', name: 'fc3', units: 3, activation: 'none' },
  ],
};

export function randomParams(arch: Architecture, seed: number): ParamSet {
  const rng = createRng(seed);
  return {
    arch: arch.name,
    tensors: paramSpecs(arch).map((s) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const std = s.role === 'kernel' ? Math.sqrt(2 / s.fanIn) : 0.1;
      return { name: s.name, shape: [...s.shape], data: Float32Array.from({ length: n }, () => std * rng.normal()) };
    }),
  };
}

export function randomInputs(arch: Architecture, count: number, seed: number): Float32Array[] {
  const rng = createRng(seed);
  const size = arch.inputShape[0] * arch.inputShape[1] * arch.inputShape[2];
  return Array.from({ length: count }, () => Float32Array.from({ length: size }, () => rng.next()));
}

/** Logits of one input (HWC flat) through the architecture, with plain loops in float64. */
export function referenceForward(arch: Architecture, set: ParamSet, input: Float32Array): number[] {
  const get = (n: string) => {
    const t = set.tensors.find((x) => x.name === n);
    if (!t) throw new Error(`missing ${n}`);
    return t;
  };
  let shape: number[] = [...arch.inputShape];
  let x: number[] = Array.from(input);
  for (const layer of chainLayers(arch, 'the reference')) {
    if (layer.type === 'conv2d') {
      const [H, W, C] = shape as [number, number, number];
      const k = get(`${layer.name}/kernel`);
      const b = get(`${layer.name}/bias`);
      const K = layer.kernel;
      const F = layer.filters;
      if (k.shape[2] !== C || k.shape[3] !== F) throw new Error(`bad kernel shape ${k.shape}`);
      const s = layer.stride;
      const same = layer.padding === 'same';
      const oh = same ? Math.ceil(H / s) : Math.floor((H - K) / s) + 1;
      const ow = same ? Math.ceil(W / s) : Math.floor((W - K) / s) + 1;
      const padT = same ? Math.floor(Math.max((oh - 1) * s + K - H, 0) / 2) : 0;
      const padL = same ? Math.floor(Math.max((ow - 1) * s + K - W, 0) / 2) : 0;
      const y = new Array<number>(oh * ow * F).fill(0);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let f = 0; f < F; f++) {
            let acc = b.data[f]!;
            for (let a = 0; a < K; a++)
              for (let c2 = 0; c2 < K; c2++) {
                const hi = i * s + a - padT;
                const wj = j * s + c2 - padL;
                if (hi < 0 || wj < 0 || hi >= H || wj >= W) continue;
                for (let c = 0; c < C; c++) acc += x[(hi * W + wj) * C + c]! * k.data[((a * K + c2) * C + c) * F + f]!;
              }
            y[(i * ow + j) * F + f] = layer.activation === 'relu' ? Math.max(0, acc) : acc;
          }
      x = y;
      shape = [oh, ow, F];
    } else if (layer.type === 'maxPool') {
      const [H, W, C] = shape as [number, number, number];
      const p = layer.size;
      const oh = Math.floor(H / p);
      const ow = Math.floor(W / p);
      const y = new Array<number>(oh * ow * C).fill(-Infinity);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let c = 0; c < C; c++)
            for (let a = 0; a < p; a++) for (let d = 0; d < p; d++) y[(i * ow + j) * C + c] = Math.max(y[(i * ow + j) * C + c]!, x[((i * p + a) * W + j * p + d) * C + c]!);
      x = y;
      shape = [oh, ow, C];
    } else if (layer.type === 'flatten') {
      shape = [x.length];
    } else if (layer.type === 'avgPool') {
      throw new Error('the reference forward pass models no average pool');
    } else {
      const k = get(`${layer.name}/kernel`);
      const b = get(`${layer.name}/bias`);
      const I = x.length;
      const O = layer.units;
      if (k.shape[0] !== I || k.shape[1] !== O) throw new Error(`bad kernel shape ${k.shape} for input ${I}`);
      const y = new Array<number>(O);
      for (let o = 0; o < O; o++) {
        let acc = b.data[o]!;
        for (let i = 0; i < I; i++) acc += x[i]! * k.data[i * O + o]!;
        y[o] = layer.activation === 'relu' ? Math.max(0, acc) : acc;
      }
      x = y;
      shape = [O];
    }
  }
  return x;
}

export function maxAbsDiff(a: number[], b: number[]): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

/** Snapshot of every tensor's values, to check an attack left its input alone. */
export function snapshot(set: ParamSet): number[][] {
  return set.tensors.map((t) => Array.from(t.data));
}
