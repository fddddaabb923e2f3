/**
 * The channel orders of a graph network that can be permuted without changing its function. Each
 * "space" is one channel axis shared by every tensor that indexes it: the convs and dense layers
 * writing it (kernel's last axis, bias), the batch norms inside it, the layers reading it (kernel's
 * input axis). An addition ties its two inputs into one space, so ResNet's residual stream is a single
 * space per stage, written by the stem or every block's second conv and read by every block's first;
 * the option-A shortcut embeds a stage's space into the next one's at an offset (zero-padded channels
 * around it), so the next stage's middle channels must follow the earlier permutation while its pad
 * channels move freely. The network's input channels and its logits are no space (nothing may move
 * there). Pure: shared by the permutation attack and by alignment, which undoes it.
 */
import { layerInputs, type Architecture } from './architectures.js';

export interface ChannelSpace {
  readonly channels: number;
  /** Convs and dense layers writing the space (kernel's last axis and bias). */
  readonly producers: readonly string[];
  /** Batch norms whose four vectors are indexed by the space. */
  readonly norms: readonly string[];
  /** Convs and dense layers reading the space (kernel's input axis, HWIO's third or a dense kernel's rows). */
  readonly consumers: readonly string[];
  /** Earlier spaces (indices into the same list) held at an offset: those positions follow them. */
  readonly embeds: readonly { readonly space: number; readonly offset: number }[];
}

interface Building {
  channels: number;
  producers: string[];
  norms: string[];
  consumers: string[];
  embeds: { node: number; offset: number }[];
  fixed: boolean;
  /** Creation order: embedded spaces are always created before the space embedding them. */
  order: number;
}

/** The permutable channel spaces of `arch`, every space after the spaces it embeds. */
export function channelSpaces(arch: Architecture): ChannelSpace[] {
  const inputs = layerInputs(arch);
  const parent: number[] = [];
  const nodes: Building[] = [];
  const make = (channels: number, fixed: boolean): number => {
    nodes.push({ channels, producers: [], norms: [], consumers: [], embeds: [], fixed, order: nodes.length });
    parent.push(parent.length);
    return parent.length - 1;
  };
  const find = (a: number): number => (parent[a] === a ? a : (parent[a] = find(parent[a]!)));
  const union = (a: number, b: number): number => {
    const [ra, rb] = [find(a), find(b)];
    if (ra === rb) return ra;
    const [keep, drop] = nodes[ra]!.order <= nodes[rb]!.order ? [ra, rb] : [rb, ra];
    const k = nodes[keep]!;
    const d = nodes[drop]!;
    k.producers.push(...d.producers);
    k.norms.push(...d.norms);
    k.consumers.push(...d.consumers);
    k.embeds.push(...d.embeds);
    k.fixed ||= d.fixed;
    parent[drop] = keep;
    return keep;
  };
  const inputSpace = make(arch.inputShape[2], true);
  /** The space of each layer's output channels. */
  const spaceOf: number[] = [];
  arch.layers.forEach((layer, i) => {
    const from = inputs[i]!.map((j) => (j < 0 ? inputSpace : spaceOf[j]!));
    const read = (): number => from[0]!;
    switch (layer.type) {
      case 'conv2d':
      case 'dense': {
        nodes[find(read())]!.consumers.push(layer.name);
        const s = make(layer.type === 'conv2d' ? layer.filters : layer.units, false);
        nodes[s]!.producers.push(layer.name);
        spaceOf.push(s);
        break;
      }
      case 'batchNorm':
        nodes[find(read())]!.norms.push(layer.name);
        spaceOf.push(read());
        break;
      case 'add':
        spaceOf.push(union(read(), from[1]!));
        break;
      case 'shortcut': {
        const inner = read();
        const s = make(layer.filters, false);
        nodes[s]!.embeds.push({ node: inner, offset: Math.floor((layer.filters - nodes[find(inner)]!.channels) / 2) });
        spaceOf.push(s);
        break;
      }
      default:
        // Pools, dropout, flatten: the channel stays the fastest axis (a flatten is HWC), so a dense
        // layer reading a flattened map reads the space in blocks of channels (permuteInputAxis).
        spaceOf.push(read());
    }
  });
  const last = spaceOf[spaceOf.length - 1];
  if (last !== undefined && last >= 0) nodes[find(last)]!.fixed = true;
  const roots = [...new Set(parent.map((_, i) => find(i)))].sort((a, b) => nodes[a]!.order - nodes[b]!.order);
  // A fixed space fixes the spaces embedded in it (their channels sit inside it), and vice versa.
  for (let changed = true; changed;) {
    changed = false;
    for (const r of roots) {
      for (const e of nodes[r]!.embeds) {
        const inner = find(e.node);
        if (nodes[r]!.fixed !== nodes[inner]!.fixed) {
          nodes[r]!.fixed = nodes[inner]!.fixed = true;
          changed = true;
        }
      }
    }
  }
  const free = roots.filter((r) => !nodes[r]!.fixed && (nodes[r]!.producers.length > 0 || nodes[r]!.embeds.length > 0));
  const index = new Map(free.map((r, i) => [r, i]));
  return free.map((r) => {
    const n = nodes[r]!;
    return {
      channels: n.channels,
      producers: n.producers,
      norms: n.norms,
      consumers: n.consumers,
      embeds: n.embeds.map((e) => ({ space: index.get(find(e.node))!, offset: e.offset })),
    };
  });
}

/**
 * A full source order for a space (out[u] = in[source[u]]): the positions an embedded space holds
 * follow that space's order, the others take `free` (indices into the list of free positions, in order).
 */
export function composeSource(space: ChannelSpace, embedded: readonly Int32Array[], free: (positions: readonly number[]) => Int32Array): Int32Array {
  const source = Int32Array.from({ length: space.channels }, (_, i) => i);
  const taken = new Uint8Array(space.channels);
  for (const e of space.embeds) {
    const inner = embedded[e.space]!;
    inner.forEach((s, k) => {
      source[e.offset + k] = e.offset + s;
      taken[e.offset + k] = 1;
    });
  }
  const positions = [...source.keys()].filter((i) => !taken[i]);
  const order = free(positions);
  positions.forEach((p, k) => (source[p] = positions[order[k]!]!));
  return source;
}

/** The parameter tensors a space's permutation moves, and along which axis. */
export function spaceTensors(space: ChannelSpace): { name: string; axis: 'last' | 'input' }[] {
  return [
    ...space.producers.flatMap((l) => [{ name: `${l}/kernel`, axis: 'last' as const }, { name: `${l}/bias`, axis: 'last' as const }]),
    ...space.norms.flatMap((l) => ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((v) => ({ name: `${l}/${v}`, axis: 'last' as const }))),
    ...space.consumers.map((l) => ({ name: `${l}/kernel`, axis: 'input' as const })),
  ];
}

/** Moves the last axis of an HWIO kernel (or any [..., c] tensor): out[..., u] = in[..., source[u]]. */
export function permuteLastAxis(data: Float32Array, source: Int32Array): Float32Array {
  const c = source.length;
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length; r += c) for (let u = 0; u < c; u++) out[r + u] = data[r + source[u]!]!;
  return out;
}

/**
 * Moves the input axis of a kernel: HWIO [kh, kw, ci, co], or a dense [blocks·ci, co] whose rows come
 * in blocks of ci (after a flatten, HWC): out[.., u, :] = in[.., source[u], :].
 */
export function permuteInputAxis(data: Float32Array, source: Int32Array, co: number): Float32Array {
  const ci = source.length;
  const out = new Float32Array(data.length);
  for (let p = 0; p < data.length; p += ci * co) {
    for (let u = 0; u < ci; u++) out.set(data.subarray(p + source[u]! * co, p + (source[u]! + 1) * co), p + u * co);
  }
  return out;
}

/** Applies a space's permutation to every tensor it moves that `get`/`set` know (absent tensors, e.g. a bias-free conv's bias, are skipped). */
export function permuteSpace(
  space: ChannelSpace,
  source: Int32Array,
  get: (name: string) => { readonly shape: readonly number[]; readonly data: Float32Array } | undefined,
  set: (name: string, data: Float32Array) => void,
): void {
  for (const { name, axis } of spaceTensors(space)) {
    const t = get(name);
    if (!t) continue;
    set(name, axis === 'last' ? permuteLastAxis(t.data, source) : permuteInputAxis(t.data, source, t.shape[t.shape.length - 1]!));
  }
}
