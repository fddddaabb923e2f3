/**
 * Function-preserving re-wirings of hidden units: the attacks that leave the network's outputs exactly
 * as they were while moving, rescaling or padding the weights a plain extraction reads.
 *
 * One primitive, `remapUnits`, rebuilds a hidden layer and the inputs of the next parameter layer from
 * a list `source` (new unit u is old unit source[u], or a dummy when −1) and positive factors `scale`
 * (unit u's incoming weights and bias × scale[u], its outgoing weights × 1/scale[u]). This is exact for
 * ReLU and identity activations and commutes with max pooling (both positively homogeneous and
 * channel-wise). The next layer's input axis is handled as [positions, channels, outputs]:
 * conv → conv: positions kh·kw (HWIO); dense → dense: 1; conv → flatten → dense: H·W, because the
 * canonical flatten is HWC, so channel c of the conv feeds rows (h·W + w)·C + c of the dense kernel.
 */
import { activationShapes, chainLayers, type Architecture, type ChainLayer, type Conv2dLayer, type DenseLayer, type GlobalAvgPoolLayer } from '../core/architectures.js';

type ParamLayer = Conv2dLayer | DenseLayer;
import type { ParamSet, ParamTensor } from '../core/paramSet.js';
import { createRng, partialPermutation } from './rng.js';
import { permuteGraphChannels, rescaleNormedChannels } from './normedUnits.js';
import { meanStd } from './tensors.js';
import type { AttackResult } from './types.js';

export interface HiddenLink {
  readonly layer: ParamLayer;
  readonly units: number;
  readonly next: ParamLayer;
  /** Input positions per channel in the next kernel (kh·kw, H·W after a flatten, or 1). */
  readonly positions: number;
}

function unitsOf(l: ParamLayer): number {
  return l.type === 'conv2d' ? l.filters : l.units;
}

type UnitChainLayer = ChainLayer | GlobalAvgPoolLayer;

/**
 * The layers of an architecture whose units can be re-wired one layer at a time: a plain chain, where
 * dropout (the identity at inference) is skipped and a global average pool (per channel, so it commutes
 * with moving, scaling and padding channels) may stand where a flatten would — ALL-CNN-C included.
 * Entries keep their index in arch.layers.
 * @throws Error naming the first layer that is not of that kind (batch norm, residual sums: normedUnits.ts).
 */
function unitChain(arch: Architecture): { layer: UnitChainLayer; at: number }[] {
  const plain = arch.layers.filter((l) => l.type !== 'dropout' && l.type !== 'globalAvgPool');
  const wired = arch.layers.every((l) => l.inputs === undefined);
  chainLayers(wired ? { ...arch, layers: plain } : arch, 'Unit re-wiring');
  return arch.layers.flatMap((layer, at) => (layer.type === 'dropout' ? [] : [{ layer: layer as UnitChainLayer, at }]));
}

/** Why `arch`'s units cannot be re-wired one layer at a time (dummy units, both-sides rescaling: plain chains only), or undefined. */
export function unitChainUnfit(arch: Architecture): string | undefined {
  try {
    unitChain(arch);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function isUnitChain(arch: Architecture): boolean {
  return unitChainUnfit(arch) === undefined;
}

/** Every parameter layer but the last (the output layer's units are the classes), with the layer it feeds. */
export function hiddenLinks(arch: Architecture): HiddenLink[] {
  const shapes = activationShapes(arch);
  const links: HiddenLink[] = [];
  const chain = unitChain(arch);
  const layers = chain.map((c) => c.layer);
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    if (layer.type !== 'conv2d' && layer.type !== 'dense') continue;
    if (layer.activation !== 'relu' && layer.activation !== 'none') {
      throw new Error(`layer '${(layer as ParamLayer).name}' has activation '${(layer as ParamLayer).activation}'; unit re-wiring needs ReLU or identity`);
    }
    let positions = 1;
    let j = i + 1;
    for (; j < layers.length; j++) {
      const l = layers[j]!;
      if (l.type === 'flatten') {
        const before = shapes[chain[j]!.at - 1]!;
        if (before.length === 3) positions = before[0]! * before[1]!;
      } else if (l.type === 'globalAvgPool') {
        positions = 1;
      } else if (l.type === 'conv2d') {
        positions = l.kernel * l.kernel;
        break;
      } else if (l.type === 'dense') break;
    }
    const next = layers[j];
    if (!next || (next.type !== 'conv2d' && next.type !== 'dense')) continue;
    links.push({ layer, units: unitsOf(layer), next, positions });
  }
  return links;
}

export interface UnitRemap {
  /** Length = the new number of units; entry = old unit index, or −1 for a dummy unit. */
  readonly source: Int32Array;
  /** Positive factor per new unit on its incoming weights and bias (default 1). */
  readonly scale?: Float64Array;
  /** Positive factor per new unit on its outgoing weights (default 1/scale: the function is unchanged). */
  readonly outScale?: Float64Array;
  /** Values for a dummy unit's incoming weights and bias (outgoing weights are always 0). */
  readonly dummyKernel?: () => number;
  readonly dummyBias?: () => number;
}

function replaceTensor(tensors: ParamTensor[], name: string, shape: number[], data: Float32Array): void {
  const i = tensors.findIndex((t) => t.name === name);
  if (i < 0) throw new Error(`Tensor '${name}' not found; the param set has: ${tensors.map((t) => t.name).join(', ')}`);
  tensors[i] = { name, shape, data };
}

function get(tensors: ParamTensor[], name: string): ParamTensor {
  const t = tensors.find((x) => x.name === name);
  if (!t) throw new Error(`Tensor '${name}' not found; the param set has: ${tensors.map((x) => x.name).join(', ')}`);
  return t;
}

/** Rebuilds hidden layer `layerName` and the next layer's inputs; the input set is not modified. */
export function remapUnits(set: ParamSet, arch: Architecture, layerName: string, remap: UnitRemap): AttackResult {
  const link = hiddenLinks(arch).find((l) => l.layer.name === layerName);
  if (!link) throw new Error(`'${layerName}' is not a hidden layer of '${arch.name}'; hidden layers: ${hiddenLinks(arch).map((l) => l.layer.name).join(', ')}`);
  const C = link.units;
  const { source } = remap;
  const Cn = source.length;
  const scale = remap.scale ?? new Float64Array(Cn).fill(1);
  const outScale = remap.outScale ?? scale.map((c) => 1 / c);
  for (let u = 0; u < Cn; u++) {
    if (source[u]! >= C || source[u]! < -1) throw new Error(`unit source ${source[u]} out of range for ${C} units`);
    if (!(scale[u]! > 0) || !(outScale[u]! > 0)) throw new Error(`unit scales must be > 0, got ${scale[u]} in, ${outScale[u]} out`);
  }
  const dummyK = remap.dummyKernel ?? (() => 0);
  const dummyB = remap.dummyBias ?? (() => 0);
  const tensors = [...set.tensors];

  const k = get(tensors, `${layerName}/kernel`);
  if (k.shape[k.shape.length - 1] !== C) throw new Error(`'${k.name}' has shape [${k.shape}], expected ${C} output units`);
  const rows = k.data.length / C;
  const nk = new Float32Array(rows * Cn);
  for (let r = 0; r < rows; r++) {
    for (let u = 0; u < Cn; u++) {
      const s = source[u]!;
      nk[r * Cn + u] = s >= 0 ? k.data[r * C + s]! * scale[u]! : dummyK();
    }
  }
  replaceTensor(tensors, k.name, [...k.shape.slice(0, -1), Cn], nk);

  const b = get(tensors, `${layerName}/bias`);
  const nb = new Float32Array(Cn);
  for (let u = 0; u < Cn; u++) nb[u] = source[u]! >= 0 ? b.data[source[u]!]! * scale[u]! : dummyB();
  replaceTensor(tensors, b.name, [Cn], nb);

  const nx = get(tensors, `${link.next.name}/kernel`);
  const O = nx.shape[nx.shape.length - 1]!;
  const P = link.positions;
  if (nx.data.length !== P * C * O) throw new Error(`'${nx.name}' has shape [${nx.shape}], expected ${P}·${C}·${O} values`);
  const nn = new Float32Array(P * Cn * O);
  for (let p = 0; p < P; p++) {
    for (let u = 0; u < Cn; u++) {
      const s = source[u]!;
      if (s < 0) continue;
      const out = outScale[u]!;
      const from = (p * C + s) * O;
      const to = (p * Cn + u) * O;
      for (let o = 0; o < O; o++) nn[to + o] = nx.data[from + o]! * out;
    }
  }
  const nextShape = link.next.type === 'conv2d' ? [nx.shape[0]!, nx.shape[1]!, Cn, O] : [P * Cn, O];
  replaceTensor(tensors, nx.name, nextShape, nn);

  if (Cn === C) return { set: { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors }, arch };
  const layers = arch.layers.map((l) =>
    l.type === 'conv2d' && l.name === layerName ? { ...l, filters: Cn } : l.type === 'dense' && l.name === layerName ? { ...l, units: Cn } : l,
  );
  const name = arch.name.endsWith('-widened') ? arch.name : `${arch.name}-widened`;
  const widened: Architecture = { ...arch, name, description: `${arch.description} (hidden layers widened)`, layers };
  return { set: { tensors }, arch: widened };
}

function copyAll(set: ParamSet): ParamSet {
  return { ...(set.arch !== undefined ? { arch: set.arch } : {}), tensors: set.tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) })) };
}

/**
 * Permutes a random subset (`fraction` of the units, rounded) of every hidden layer, the next layer's
 * inputs permuted to match. fraction 1 = a full random permutation.
 */
export function permuteUnits(set: ParamSet, arch: Architecture, fraction: number, seed: number): AttackResult {
  // Graphs: the channel orders the additions and shortcuts leave free move (normedUnits.ts).
  if (!isUnitChain(arch)) return permuteGraphChannels(set, arch, fraction, seed);
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`permutation fraction must be in [0, 1], got ${fraction}`);
  const rng = createRng(seed);
  let cur: AttackResult = { set: copyAll(set), arch };
  for (const link of hiddenLinks(arch)) {
    const C = link.units;
    const source = partialPermutation(C, fraction, rng);
    cur = remapUnits(cur.set, cur.arch, link.layer.name, { source });
  }
  return cur;
}

/**
 * ReLU rescaling: unit j of every hidden layer gets c_j = maxFactor^u, u uniform in [−1, 1]: incoming
 * weights and bias × c_j, outgoing × 1/c_j. maxFactor 1 is the identity. On a graph with batch norm
 * (not a chain) the norms absorb the factors instead (normedUnits.ts).
 */
export function rescaleUnits(set: ParamSet, arch: Architecture, maxFactor: number, seed: number): AttackResult {
  // Graphs with batch norm: the norm absorbs each channel's factor instead of the next layer.
  if (!isUnitChain(arch)) return rescaleNormedChannels(set, arch, maxFactor, seed);
  return scaleEveryUnit(set, arch, maxFactor, seed, 'inverse');
}

/**
 * Rescaling both sides the same way: as rescaleUnits, but unit j's outgoing weights × c_j too. Not
 * function-preserving (the unit's share of the next layer's input × c_j²): an attacker pays accuracy, to
 * be trained back, for weights the invariant alignment reads as the owner's own drift, which also moves
 * a unit's two sides together (src/core/align/invariant.ts), and so does not undo. Plain chains only.
 */
export function rescaleUnitsBothSides(set: ParamSet, arch: Architecture, maxFactor: number, seed: number): AttackResult {
  return scaleEveryUnit(set, arch, maxFactor, seed, 'same');
}

function scaleEveryUnit(set: ParamSet, arch: Architecture, maxFactor: number, seed: number, outgoing: 'inverse' | 'same'): AttackResult {
  if (!(maxFactor >= 1) || !Number.isFinite(maxFactor)) throw new Error(`rescaling factor must be a finite number ≥ 1, got ${maxFactor}`);
  const rng = createRng(seed);
  let cur: AttackResult = { set: copyAll(set), arch };
  const lnMax = Math.log(maxFactor);
  for (const link of hiddenLinks(arch)) {
    const C = link.units;
    const scale = Float64Array.from({ length: C }, () => Math.exp((2 * rng.next() - 1) * lnMax));
    const source = Int32Array.from({ length: C }, (_, i) => i);
    cur = remapUnits(cur.set, cur.arch, link.layer.name, { source, scale, ...(outgoing === 'same' ? { outScale: scale } : {}) });
  }
  return cur;
}

/**
 * Dummy neurons: every hidden layer grows by round(fraction · units) units appended after the real ones,
 * with random incoming weights and bias (normal, at the layer's own mean and std) and zero outgoing
 * weights, so they never reach the output. Changes shapes: the returned arch is widened and the
 * returned set carries no registry arch name.
 */
export function addDummyUnits(set: ParamSet, arch: Architecture, fraction: number, seed: number): AttackResult {
  if (!(fraction >= 0) || !Number.isFinite(fraction)) throw new Error(`dummy-unit fraction must be a finite number ≥ 0, got ${fraction}`);
  const rng = createRng(seed);
  let cur: AttackResult = { set: copyAll(set), arch };
  for (const link of hiddenLinks(arch)) {
    const C = link.units;
    const extra = Math.round(fraction * C);
    if (extra === 0) continue;
    const k = meanStd(cur.set.tensors.find((t) => t.name === `${link.layer.name}/kernel`)!.data);
    const b = meanStd(cur.set.tensors.find((t) => t.name === `${link.layer.name}/bias`)!.data);
    const source = Int32Array.from({ length: C + extra }, (_, i) => (i < C ? i : -1));
    cur = remapUnits(cur.set, cur.arch, link.layer.name, {
      source,
      dummyKernel: () => k.mean + k.std * rng.normal(),
      dummyBias: () => b.mean + b.std * rng.normal(),
    });
  }
  return cur;
}
