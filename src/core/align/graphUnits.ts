/**
 * Undoes the permutation of a graph's private channels (privateChannels.ts) against the reference:
 * each reference channel of a producer conv is matched to the suspect channel whose filter points the
 * same way (cosine over the positions the key does not use, so the mark cannot steer the match),
 * solved as a linear assignment; the producer's outputs and the consumer's inputs are put back in
 * reference order. Scales are left to unitScale.ts, which runs after.
 */
import { solveAssignment } from '../linearAssignment.js';
import { permuteInputAxis, permuteLastAxis, type PrivateChannelGroup } from '../privateChannels.js';
import type { DenseTensor } from './tensorOps.js';

export interface GroupTensors {
  readonly producer: DenseTensor;
  readonly producerRef: DenseTensor;
  readonly producerMask: Uint8Array;
  readonly consumer: DenseTensor;
}

/** The suspect's producer and consumer in reference channel order, or undefined when the order already is the reference's. */
export function unpermuteGroup(group: PrivateChannelGroup, t: GroupTensors): { producer: Float32Array; consumer: Float32Array; moved: number } | undefined {
  const c = group.channels;
  const rows = t.producer.data.length / c;
  if (t.producerRef.data.length !== t.producer.data.length || t.consumer.shape[2] !== c) return undefined;
  const cost = new Float64Array(c * c);
  const norms = (d: Float32Array, u: number, ref: number): number => {
    let s = 0;
    for (let r = 0; r < rows; r++) if (!t.producerMask[r * c + ref]) s += d[r * c + u]! ** 2;
    return Math.sqrt(s);
  };
  for (let i = 0; i < c; i++) {
    const ri = norms(t.producerRef.data, i, i);
    for (let j = 0; j < c; j++) {
      let dot = 0;
      for (let r = 0; r < rows; r++) if (!t.producerMask[r * c + i]) dot += t.producerRef.data[r * c + i]! * t.producer.data[r * c + j]!;
      const sj = norms(t.producer.data, j, i);
      cost[i * c + j] = ri > 0 && sj > 0 ? -dot / (ri * sj) : 0;
    }
  }
  const source = solveAssignment(cost, c, c).rowToCol;
  let moved = 0;
  for (let i = 0; i < c; i++) if (source[i] !== i) moved++;
  if (moved === 0) return undefined;
  return { producer: permuteLastAxis(t.producer.data, source), consumer: permuteInputAxis(t.consumer.data, source, t.consumer.shape[3]!), moved };
}
