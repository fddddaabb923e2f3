/**
 * The channels of a graph network that can be permuted without changing its function: those a conv
 * writes only for one batch norm that feeds only the next conv, through pools if any (ResNet's conv1 →
 * bn1 → conv2 inside a block). Channels of the residual stream are tied across a whole stage by the additions and the
 * option-A shortcut's padding, so they are not listed. Pure: shared by the permutation attack and by
 * alignment, which undoes it.
 */
import { consumerCounts, layerInputs, type Architecture } from './architectures.js';

export interface PrivateChannelGroup {
  /** The conv whose output channels move (its kernel's last axis, HWIO). */
  readonly producer: string;
  /** The batch norm between them (its four vectors move with the channels). */
  readonly norm: string;
  /** The conv reading them (its kernel's input axis, the third of HWIO). */
  readonly consumer: string;
  readonly channels: number;
}

export function privateChannelGroups(arch: Architecture): PrivateChannelGroup[] {
  const inputs = layerInputs(arch);
  const consumers = consumerCounts(arch);
  const groups: PrivateChannelGroup[] = [];
  arch.layers.forEach((layer, i) => {
    if (layer.type !== 'conv2d') return;
    let normAt = inputs[i]![0]!;
    // Pools act per channel: between the norm and the conv reading it they move with the channels.
    while (normAt >= 0 && (arch.layers[normAt]!.type === 'maxPool' || arch.layers[normAt]!.type === 'avgPool') && consumers[normAt] === 1) normAt = inputs[normAt]![0]!;
    const norm = arch.layers[normAt];
    if (norm?.type !== 'batchNorm' || consumers[normAt] !== 1) return;
    const producerAt = inputs[normAt]![0]!;
    const producer = arch.layers[producerAt];
    if (producer?.type !== 'conv2d' || producer.activation !== 'none' || consumers[producerAt] !== 1) return;
    groups.push({ producer: producer.name, norm: norm.name, consumer: layer.name, channels: producer.filters });
  });
  return groups;
}

/** Moves the last axis of an HWIO kernel (or any [..., c] tensor): out[..., u] = in[..., source[u]]. */
export function permuteLastAxis(data: Float32Array, source: Int32Array): Float32Array {
  const c = source.length;
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length; r += c) for (let u = 0; u < c; u++) out[r + u] = data[r + source[u]!]!;
  return out;
}

/** Moves the input axis of an HWIO kernel [kh, kw, ci, co]: out[.., u, :] = in[.., source[u], :]. */
export function permuteInputAxis(data: Float32Array, source: Int32Array, co: number): Float32Array {
  const ci = source.length;
  const out = new Float32Array(data.length);
  for (let p = 0; p < data.length; p += ci * co) {
    for (let u = 0; u < ci; u++) out.set(data.subarray(p + source[u]! * co, p + (source[u]! + 1) * co), p + u * co);
  }
  return out;
}
