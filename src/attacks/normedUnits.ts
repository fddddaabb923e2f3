/**
 * Rescaling where a batch norm follows the conv (ResNet-style graphs, which the chain re-wirings of
 * units.ts do not cover): output channel o of the conv × c_o, and the norm that reads it absorbs the
 * factor so the network computes the same function in evaluation mode — running mean × c_o, running
 * variance × c_o² (what the statistics of the scaled channel would be), and γ × √(c_o²·var + ε) /
 * (c_o·√(var + ε)) for the ε the norm adds. What deployment tools' batch-norm folding does to the
 * weights is the same kind of per-channel scale, which alignment undoes with a reference. And the
 * permutation of the channels private to a conv → batch norm → conv group (inside a residual block).
 */
import { consumerCounts, layerInputs, type Architecture } from '../core/architectures.js';
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import { createRng, partialPermutation } from './rng.js';
import { permuteInputAxis, permuteLastAxis, privateChannelGroups } from '../core/privateChannels.js';
import type { AttackResult } from './types.js';

/** Every conv read only by a batch norm: [conv name, norm name, epsilon]. */
function convNormPairs(arch: Architecture): { conv: string; norm: string; epsilon: number }[] {
  const inputs = layerInputs(arch);
  const consumers = consumerCounts(arch);
  const pairs: { conv: string; norm: string; epsilon: number }[] = [];
  arch.layers.forEach((layer, i) => {
    if (layer.type !== 'batchNorm') return;
    const from = inputs[i]![0]!;
    const conv = arch.layers[from];
    if (conv?.type === 'conv2d' && conv.activation === 'none' && consumers[from] === 1) pairs.push({ conv: conv.name, norm: layer.name, epsilon: layer.epsilon });
  });
  return pairs;
}

/**
 * c_o = maxFactor^u, u uniform in [−1, 1], for every output channel of every conv followed by a batch
 * norm. maxFactor 1 is the identity.
 * @throws Error when the architecture has no conv followed by a batch norm.
 */
export function rescaleNormedChannels(set: ParamSet, arch: Architecture, maxFactor: number, seed: number): AttackResult {
  if (!(maxFactor >= 1) || !Number.isFinite(maxFactor)) throw new Error(`rescaling factor must be a finite number ≥ 1, got ${maxFactor}`);
  const pairs = convNormPairs(arch);
  if (pairs.length === 0) throw new Error(`${arch.name} has no convolution followed by a batch norm to rescale`);
  const rng = createRng(seed);
  const lnMax = Math.log(maxFactor);
  const tensors = new Map<string, ParamTensor>(set.tensors.map((t) => [t.name, { name: t.name, shape: [...t.shape], data: new Float32Array(t.data) }]));
  const get = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`the param set has no tensor '${name}'`);
    return t.data;
  };
  for (const { conv, norm, epsilon } of pairs) {
    const kernel = get(`${conv}/kernel`);
    const [gamma, mean, variance] = [get(`${norm}/gamma`), get(`${norm}/moving_mean`), get(`${norm}/moving_variance`)];
    const channels = gamma.length;
    for (let o = 0; o < channels; o++) {
      const c = Math.exp((2 * rng.next() - 1) * lnMax);
      for (let i = o; i < kernel.length; i += channels) kernel[i] = kernel[i]! * c;
      const v = variance[o]!;
      gamma[o] = (gamma[o]! * Math.sqrt(c * c * v + epsilon)) / (c * Math.sqrt(v + epsilon));
      mean[o] = mean[o]! * c;
      variance[o] = c * c * v;
    }
  }
  return { set: { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors: set.tensors.map((t) => tensors.get(t.name)!) }, arch };
}

/**
 * Permutes a random subset (`fraction`, rounded) of the private channels of every group (a conv → batch
 * norm → conv inside a residual block): the first conv's outputs, the norm's vectors and the second
 * conv's inputs move together, so the function is unchanged.
 * @throws Error when the architecture has no such group.
 */
export function permuteNormedChannels(set: ParamSet, arch: Architecture, fraction: number, seed: number): AttackResult {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`permutation fraction must be in [0, 1], got ${fraction}`);
  const groups = privateChannelGroups(arch);
  if (groups.length === 0) throw new Error(`${arch.name} has no channels private to a conv → batch norm → conv group to permute`);
  const rng = createRng(seed);
  const tensors = new Map<string, ParamTensor>(set.tensors.map((t) => [t.name, { name: t.name, shape: [...t.shape], data: new Float32Array(t.data) }]));
  const replace = (name: string, f: (d: Float32Array) => Float32Array): void => {
    const t = tensors.get(name);
    if (!t) throw new Error(`the param set has no tensor '${name}'`);
    tensors.set(name, { ...t, data: f(t.data) });
  };
  for (const g of groups) {
    const c = g.channels;
    const source = partialPermutation(c, fraction, rng);
    replace(`${g.producer}/kernel`, (d) => permuteLastAxis(d, source));
    for (const v of ['gamma', 'beta', 'moving_mean', 'moving_variance']) replace(`${g.norm}/${v}`, (d) => permuteLastAxis(d, source));
    const co = tensors.get(`${g.consumer}/kernel`)!.shape[3]!;
    replace(`${g.consumer}/kernel`, (d) => permuteInputAxis(d, source, co));
  }
  return { set: { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors: set.tensors.map((t) => tensors.get(t.name)!) }, arch };
}
