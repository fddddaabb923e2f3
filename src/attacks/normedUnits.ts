/**
 * Rescaling where a batch norm follows the conv (ResNet-style graphs, which the chain re-wirings of
 * units.ts do not cover): output channel o of the conv × c_o, and the norm that reads it absorbs the
 * factor so the network computes the same function in evaluation mode — running mean × c_o, running
 * variance × c_o² (what the statistics of the scaled channel would be), and γ × √(c_o²·var + ε) /
 * (c_o·√(var + ε)) for the ε the norm adds. What deployment tools' batch-norm folding does to the
 * weights is the same kind of per-channel scale, which alignment undoes with a reference. And the
 * permutation of every channel order the graph leaves free (channelSpaces.ts).
 */
import { consumerCounts, layerInputs, type Architecture } from '../core/architectures.js';
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import { createRng, partialPermutation } from './rng.js';
import { channelSpaces, composeSource, permuteSpace } from '../core/channelSpaces.js';
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
 * Permutes a random subset (`fraction`, rounded) of the channels of every permutable space
 * (channelSpaces.ts): the channels private to a block's conv → batch norm → conv, and each stage's
 * residual stream, whose order is shared by every block of the stage and carried into the next stage
 * by the shortcut. The writers' outputs, the norms' vectors and the readers' inputs move together,
 * so the function is unchanged.
 * @throws Error when the architecture has no permutable space.
 */
export function permuteGraphChannels(set: ParamSet, arch: Architecture, fraction: number, seed: number): AttackResult {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`permutation fraction must be in [0, 1], got ${fraction}`);
  const spaces = channelSpaces(arch);
  if (spaces.length === 0) throw new Error(`${arch.name} has no channels that can be permuted`);
  const rng = createRng(seed);
  const tensors = new Map<string, ParamTensor>(set.tensors.map((t) => [t.name, { name: t.name, shape: [...t.shape], data: new Float32Array(t.data) }]));
  const sources: Int32Array[] = [];
  for (const space of spaces) {
    const source = composeSource(space, sources, (positions) => partialPermutation(positions.length, fraction, rng));
    sources.push(source);
    permuteSpace(space, source, (name) => tensors.get(name), (name, data) => tensors.set(name, { ...tensors.get(name)!, data }));
  }
  return { set: { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors: set.tensors.map((t) => tensors.get(t.name)!) }, arch };
}
