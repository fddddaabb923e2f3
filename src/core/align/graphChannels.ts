/**
 * Undoes a permutation of a graph's channel spaces (core/channelSpaces.ts) against the reference. Each
 * reference channel is matched to the suspect channel whose weights point the same way — summed over
 * every kernel that indexes the space, by cosine over the positions the key does not use (so the mark
 * cannot steer the match) — and solved as a linear assignment; then every tensor of the space is put
 * back in reference order.
 *
 * A kernel's slice for one channel is comparable only when its other axis is already in reference
 * order (ResNet's stem conv reads the image, the head reads into the logits; a block's first conv
 * reads the stream but writes its private channels). So spaces are solved greedily, each once some
 * kernel of it is comparable, with the evidence comparable at that moment; then once more with all of
 * it. A space that embeds another (the next stage's stream around the shortcut's zero padding) takes
 * the earlier space's order on those positions and is matched only on the rest.
 */
import { composeSource, permuteSpace, type ChannelSpace } from '../channelSpaces.js';
import { solveAssignment } from '../linearAssignment.js';
import type { DenseTensor } from './tensorOps.js';

export interface SpaceTensors {
  /** The suspect's tensor (already in the reference's names and layout), or undefined. */
  readonly get: (name: string) => DenseTensor | undefined;
  readonly set: (name: string, data: Float32Array) => void;
  readonly reference: (name: string) => DenseTensor | undefined;
  /** 1 at the keyed positions of a tensor. */
  readonly mask: (name: string) => Uint8Array | undefined;
}

export interface SpaceUndo {
  readonly space: ChannelSpace;
  /** Channels that were out of the reference's order. */
  readonly moved: number;
}

interface Slice {
  readonly kernel: string;
  readonly axis: 'last' | 'input';
  /** The space along the kernel's other axis (-1: the input image or the logits, never permuted). */
  readonly other: number;
}

/** Puts every space of `spaces` back in the reference's order; returns the spaces that moved. */
export function unpermuteSpaces(spaces: readonly ChannelSpace[], t: SpaceTensors): SpaceUndo[] {
  const writer = new Map<string, number>();
  const reader = new Map<string, number>();
  spaces.forEach((s, i) => {
    for (const l of s.producers) writer.set(l, i);
    for (const l of s.consumers) reader.set(l, i);
  });
  const slices = spaces.map((s): Slice[] => [
    ...s.producers.map((l) => ({ kernel: `${l}/kernel`, axis: 'last' as const, other: reader.get(l) ?? -1 })),
    ...s.consumers.map((l) => ({ kernel: `${l}/kernel`, axis: 'input' as const, other: writer.get(l) ?? -1 })),
  ]);
  const solved = new Set<number>();
  const sources: Int32Array[] = [];
  const moved = new Map<number, number>();
  const solve = (i: number, evidence: readonly Slice[], embedded: readonly Int32Array[]): Int32Array => {
    const source = composeSource(spaces[i]!, embedded, (positions) => matchChannels(spaces[i]!.channels, positions, evidence, t));
    const count = source.reduce((n, s, u) => n + (s !== u ? 1 : 0), 0);
    if (count > 0) {
      permuteSpace(spaces[i]!, source, t.get, t.set);
      moved.set(i, Math.max(moved.get(i) ?? 0, count));
    }
    return source;
  };
  const ready = (sl: Slice): boolean => sl.other < 0 || solved.has(sl.other);
  while (solved.size < spaces.length) {
    const open = [...spaces.keys()].filter((i) => !solved.has(i) && spaces[i]!.embeds.every((e) => solved.has(e.space)));
    const next = open.find((i) => slices[i]!.some(ready)) ?? open[0]!;
    const evidence = slices[next]!.filter(ready);
    sources[next] = solve(next, evidence.length > 0 ? evidence : slices[next]!, sources);
    solved.add(next);
  }
  // Second pass: every other axis is in order now, so all of a space's kernels speak. Embedded
  // positions are in order already (identity).
  const identity = spaces.map((s) => Int32Array.from({ length: s.channels }, (_, k) => k));
  for (let i = 0; i < spaces.length; i++) solve(i, slices[i]!, identity);
  return [...moved].map(([i, m]) => ({ space: spaces[i]!, moved: m }));
}

/** The assignment of the free positions: order[k] = the index (into positions) of the suspect channel for reference position positions[k]. */
function matchChannels(channels: number, positions: readonly number[], evidence: readonly Slice[], t: SpaceTensors): Int32Array {
  const m = positions.length;
  const cost = new Float64Array(m * m);
  for (const sl of evidence) {
    const sus = t.get(sl.kernel);
    const ref = t.reference(sl.kernel);
    if (!sus || !ref || sus.data.length !== ref.data.length) continue;
    const mask = t.mask(sl.kernel);
    const co = sus.shape[sus.shape.length - 1]!;
    // Flat index of element r of channel c's slice.
    const at = sl.axis === 'last'
      ? (c: number, r: number): number => r * channels + c
      : (c: number, r: number): number => (Math.floor(r / co) * channels + c) * co + (r % co);
    const rows = sus.data.length / channels;
    for (let a = 0; a < m; a++) {
      const i = positions[a]!;
      let rr = 0;
      for (let r = 0; r < rows; r++) if (!mask?.[at(i, r)]) rr += ref.data[at(i, r)]! ** 2;
      for (let b = 0; b < m; b++) {
        const j = positions[b]!;
        let dot = 0;
        let ss = 0;
        for (let r = 0; r < rows; r++) {
          if (mask?.[at(i, r)]) continue;
          const v = sus.data[at(j, r)]!;
          dot += ref.data[at(i, r)]! * v;
          ss += v * v;
        }
        if (rr > 0 && ss > 0) cost[a * m + b]! -= dot / Math.sqrt(rr * ss);
      }
    }
  }
  return solveAssignment(cost, m, m).rowToCol;
}
