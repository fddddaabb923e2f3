/**
 * Alignment: maps a suspect model's tensors onto the tensors a watermark key was made for, so that
 * extraction survives format conversion (renamed tensors, transposed layouts, flatten order, folded
 * BatchNorm) and function-preserving attacks (neuron permutation, ReLU rescaling, dummy neurons).
 *
 * Stages, in order: (a) by name, (b) by shape up to a layout, (c) by content against the reference
 * (or by file order without one); then the layout of each tensor; then, with a reference, the
 * invariant re-alignment of units. Keyed positions are masked out of every content comparison.
 */
import { activationShapes, getArchitecture, type Architecture } from '../architectures.js';
import { sizeOf, type ParamSet, type ParamTensor } from '../paramSet.js';
import type { WatermarkKey } from '../watermarkKey.js';
import { inferChain, type ChainLayer, type ChainResult } from './chain.js';
import { matchByContent, scoreLayouts } from './content.js';
import { realignLayers, type InvariantLayer } from './invariant.js';
import { applyLayout, byConvention, layoutCandidates, voteConvention, type LayoutCandidate, type TargetContext } from './layouts.js';
import { matchByName } from './names.js';
import { sameShape, type DenseTensor } from './tensorOps.js';
import { rescaleUnits } from './unitScale.js';
import { unpermuteSpaces } from './graphChannels.js';
import { channelSpaces, spaceTensors } from '../channelSpaces.js';
import type { AlignOptions, AlignmentResult, MappingMethod, TargetTensor, TensorMapping } from './types.js';

export type { AlignOptions, AlignmentResult, MappingMethod, TensorMapping, TargetTensor } from './types.js';
export { normaliseName, matchByName } from './names.js';
export { inferChain, type ChainLayer } from './chain.js';
export { layoutCandidates, applyLayout, voteConvention, type LayoutCandidate, type Convention } from './layouts.js';
export { scoreLayouts, matchByContent } from './content.js';
export { realignLayers, remapInputs, type UnitMap, type InvariantLayer } from './invariant.js';
export { standardizeWithinTensors } from './standardize.js';
export { transpose, flattenChwToHwc, maskedPearson } from './tensorOps.js';

/** A layout or tensor picked by content is trusted only when the correlation reaches this; below it the file's convention (layouts) or the invariant stage (tensors) decides. */
const CONTENT_LAYOUT_MIN_R = 0.3;
/** Most arrangements of weakly identified tensors tried through the invariant stage (5! = 120). */
const MAX_ARRANGEMENTS = 120;

interface Assigned {
  readonly suspect: number;
  readonly method: MappingMethod;
  /** A layout already chosen by the content stage. */
  readonly layout?: LayoutCandidate;
}

/**
 * Maps the suspect's tensors onto key.tensors.
 * @throws Error naming every keyed tensor that cannot be mapped, and listing the suspect's tensors.
 * @throws Error when the reference lacks a key tensor or has it in another shape.
 */
export function alignToKey(suspect: ParamSet, key: WatermarkKey, opts: AlignOptions = {}): AlignmentResult {
  const notes: string[] = [];
  const reference = opts.reference;
  let invariant = opts.invariant ?? reference !== undefined;
  if (invariant && !reference) {
    notes.push('invariant re-alignment needs a reference model; skipped');
    invariant = false;
  }
  const targets = targetsOf(key, reference);
  const refByName = new Map((reference?.tensors ?? []).map((t) => [t.name, t] as const));
  const masks = keyMasks(key, targets);
  const arch = opts.arch ?? archByName(key.arch);
  const chain = inferChain(targets, arch);
  const balancedScales = arch !== undefined && !arch.layers.some((x) => x.type === 'batchNorm');
  // A graph has no chain for the invariant stage: its channel orders and per-channel scales are undone
  // after the layouts instead (channel spaces, unit scales).
  const graphStage = invariant && !chain.ok;
  if (!chain.ok && invariant) {
    if (!arch) notes.push(`invariant re-alignment skipped: ${chain.reason}`);
    invariant = false;
  }
  const layerOf = new Map<number, ChainLayer>();
  if (chain.ok) for (const l of chain.layers) for (const i of [l.kernel, l.bias]) if (i !== undefined) layerOf.set(i, l);
  const archSpatial = arch ? flattenSpatialByKernel(arch) : new Map<string, number>();
  const contexts = targets.map((t, i) => contextOf(t, layerOf.get(i), invariant, archSpatial.get(t.name)));
  const strictContexts = contexts.map((c) => ({ ...c, flexibleIn: false, flexibleOut: false }));

  const sus = suspect.tensors;
  const suspectNames = sus.map((t) => t.name);
  const candCache = new Map<string, LayoutCandidate[]>();
  const cands = (t: number, s: number, strict = false): LayoutCandidate[] => {
    const k = `${t}:${s}:${strict}`;
    let c = candCache.get(k);
    if (!c) {
      c = layoutCandidates(strict ? strictContexts[t]! : contexts[t]!, sus[s]!.shape);
      candCache.set(k, c);
    }
    return c;
  };
  let comparisons = 0;
  const assigned = new Map<number, Assigned>();
  const weak: number[] = [];
  const usedS = new Set<number>();
  const assign = (t: number, a: Assigned): void => {
    assigned.set(t, a);
    usedS.add(a.suspect);
  };

  // (a) by name
  for (const m of matchByName(targets, suspectNames)) {
    if (cands(m.target, m.suspect).length === 0) {
      notes.push(`'${suspectNames[m.suspect]}' is named like '${targets[m.target]!.name}' but its shape [${sus[m.suspect]!.shape}] does not read as [${targets[m.target]!.shape}]; looked for it by shape`);
      continue;
    }
    assign(m.target, { suspect: m.suspect, method: 'name' });
  }
  // (b) by shape, then (c) by content or file order — exact shapes first, then (invariant) unit counts free
  for (const strict of invariant ? [true, false] : [false]) {
    byUniqueShape(targets.length, sus.length, assigned, usedS, (t, s) => cands(t, s, strict).length > 0, assign);
    const openT = range(targets.length).filter((t) => !assigned.has(t) && range(sus.length).some((s) => !usedS.has(s) && cands(t, s, strict).length > 0));
    const openS = range(sus.length).filter((s) => !usedS.has(s));
    if (openT.length === 0) continue;
    if (reference) {
      const refOf = (t: number): DenseTensor => refByName.get(targets[t]!.name)!;
      const r = matchByContent(openT, openS, (t, s) => cands(t, s, strict), refOf, (t) => masks[t]!, (s) => sus[s]!);
      comparisons += r.scored;
      for (const p of r.pairs) {
        const c = cands(p.target, p.suspect, strict);
        if (!contentIsClear(p.score, sizeOf(targets[p.target]!.shape))) weak.push(p.target);
        assign(p.target, { suspect: p.suspect, method: 'content', ...(p.layout >= 0 && p.score >= CONTENT_LAYOUT_MIN_R ? { layout: c[p.layout]! } : {}) });
      }
    } else {
      const byOrder: string[] = [];
      for (const t of openT) {
        const s = openS.find((x) => !usedS.has(x) && cands(t, x, strict).length > 0);
        if (s === undefined) continue;
        assign(t, { suspect: s, method: 'order' });
        byOrder.push(`'${targets[t]!.name}' ← '${suspectNames[s]}'`);
      }
      if (byOrder.length > 0) notes.push(`several suspect tensors fit the same shape and no reference was given; took them in file order: ${byOrder.join(', ')}`);
    }
  }

  const keyNames = new Set(key.tensors.map((k) => k.name));
  const unmapped = range(targets.length).filter((t) => !assigned.has(t));
  const unmappedKeyed = unmapped.filter((t) => keyNames.has(targets[t]!.name));
  if (unmappedKeyed.length > 0) {
    const want = unmappedKeyed.map((t) => `'${targets[t]!.name}' [${targets[t]!.shape}]`).join(', ');
    const have = sus.map((s, i) => `'${s.name}' [${s.shape}]${usedS.has(i) ? ' (taken)' : ''}`).join(', ');
    throw new Error(`Cannot map key tensor(s) ${want} onto the suspect: no remaining tensor has a fitting name or shape. The suspect has: ${have || 'no tensors'}.`);
  }
  if (unmapped.length > 0) {
    notes.push(`reference tensor(s) ${unmapped.map((t) => `'${targets[t]!.name}'`).join(', ')} not found in the suspect`);
    if (invariant) {
      notes.push('invariant re-alignment skipped: the layer chain is incomplete in the suspect');
      invariant = false;
    }
  }

  // Layouts, then (with a reference) the invariant stage. Tensors that content could not tell apart
  // (weak correlations, e.g. same-shape layers whose units were permuted) are tried in every
  // arrangement through the invariant stage, keeping the one whose units match the reference best.
  const finish = (asg: ReadonlyMap<number, Assigned>): Finished => finishAlignment(asg, { targets, sus, suspectNames, cands, refByName, masks, layerOf, invariant, chain, hasReference: reference !== undefined, balancedScales });
  let done: Finished;
  const hypotheses = invariant && weak.length > 1 ? arrangements(weak, assigned, cands, MAX_ARRANGEMENTS) : [];
  if (hypotheses === null) notes.push(`content could not tell ${weak.map((t) => `'${targets[t]!.name}'`).join(', ')} apart and there are too many arrangements to try; kept the content assignment`);
  if (hypotheses !== null && hypotheses.length > 1) {
    let best: { f: Finished; asg: Map<number, Assigned> } | undefined;
    let tried = 0;
    for (const h of hypotheses) {
      const asg = new Map(assigned);
      h.forEach((s, i) => asg.set(weak[i]!, { suspect: s, method: 'content' }));
      let f: Finished;
      try {
        f = finish(asg);
      } catch {
        continue;
      }
      tried++;
      if (!best || f.fit > best.f.fit + 1e-9) best = { f, asg };
    }
    if (!best) throw new Error(`No arrangement of the suspect tensors ${weak.map((t) => `'${targets[t]!.name}'`).join(', ')} could be realigned against the reference`);
    for (const [t, a] of best.asg) assigned.set(t, a);
    done = best.f;
    comparisons += tried;
    notes.push(`content could not tell ${weak.map((t) => `'${targets[t]!.name}'`).join(', ')} apart directly; ${tried} arrangements were realigned and the best kept`);
  } else {
    done = finish(assigned);
  }
  const { aligned, transforms } = done;
  notes.push(...done.notes);
  comparisons += done.comparisons;
  if (reference && graphStage) {
    // Graphs: the chain's invariant stage cannot run; the channel orders the graph leaves free (a
    // block's private channels, each stage's residual stream) are put back in order, then per-channel
    // scales (folded batch norm, rescaling) divided out.
    const byName = new Map(targets.map((t, i) => [t.name, i] as const));
    const undone = arch ? unpermuteSpaces(channelSpaces(arch), {
      get: (name) => aligned.get(byName.get(name) ?? -1),
      set: (name, data) => {
        const t = byName.get(name)!;
        aligned.set(t, { shape: aligned.get(t)!.shape, data });
      },
      reference: (name) => refByName.get(name),
      mask: (name) => masks[byName.get(name) ?? -1],
    }) : [];
    for (const u of undone) {
      for (const { name, axis } of spaceTensors(u.space)) {
        const t = byName.get(name);
        if (t !== undefined && aligned.has(t)) transforms.get(t)!.push(`${axis === 'last' ? 'output' : 'input'} channels put back in the reference's order (${u.moved} of ${u.space.channels} moved)`);
      }
    }
    if (undone.length > 0) notes.push(`${undone.length} channel order(s) of the graph (a block's private channels or a stage's residual stream) were permuted; matched to the reference by content and put back`);
    let rescaled = 0;
    for (const [t, a] of aligned) {
      const ref = refByName.get(targets[t]!.name);
      const r = ref && keyNames.has(targets[t]!.name) ? rescaleUnits(a, ref, masks[t]!) : undefined;
      if (!r) continue;
      aligned.set(t, { shape: a.shape, data: r.data });
      transforms.get(t)!.push(`${r.units} output units rescaled by 1/s, s in [${r.min.toPrecision(3)}, ${r.max.toPrecision(3)}] (least squares against the reference)`);
      rescaled++;
    }
    if (rescaled > 0) notes.push(`${rescaled} tensor(s) were scaled per output unit against the reference (batch norm folded into the conv, or a rescaling attack) and the scales divided out`);
  }

  for (const k of key.tensors) {
    const t = targets.findIndex((x) => x.name === k.name);
    const a = aligned.get(t)!;
    if (!sameShape(a.shape, k.shape)) {
      throw new Error(`Key tensor '${k.name}' [${k.shape}] mapped to suspect '${suspectNames[assigned.get(t)!.suspect]}' [${sus[assigned.get(t)!.suspect]!.shape}], which reads as [${a.shape}]; ` + (reference ? 'unit counts differ in a layer the invariant stage could not realign.' : 'unit counts differ (dummy or pruned neurons?); pass the reference model to realign them.'));
    }
  }

  const params: ParamSet = {
    ...(key.arch !== undefined ? { arch: key.arch } : {}),
    tensors: key.tensors.map((k): ParamTensor => {
      const t = targets.findIndex((x) => x.name === k.name);
      const data = aligned.get(t)!.data;
      // Never alias the suspect's arrays (identity layouts pass them through).
      return { name: k.name, shape: [...k.shape], data: sus.some((x) => x.data === data) ? new Float32Array(data) : data };
    }),
  };
  const mapping: TensorMapping[] = key.tensors.map((k) => {
    const t = targets.findIndex((x) => x.name === k.name);
    const a = assigned.get(t)!;
    return { keyTensor: k.name, suspectTensor: suspectNames[a.suspect]!, method: a.method, transform: transforms.get(t)!.join('; ') };
  });
  return { params, mapping, comparisons: Math.max(1, comparisons), notes };
}

interface Finished {
  readonly aligned: Map<number, DenseTensor>;
  readonly transforms: Map<number, string[]>;
  readonly notes: string[];
  readonly comparisons: number;
  /** Sum over layers of the mean matched-unit correlation (0 without the invariant stage). */
  readonly fit: number;
}

interface FinishContext {
  readonly targets: readonly TargetTensor[];
  readonly sus: readonly ParamTensor[];
  readonly suspectNames: readonly string[];
  readonly cands: (t: number, s: number) => LayoutCandidate[];
  readonly refByName: ReadonlyMap<string, ParamTensor>;
  readonly masks: readonly Uint8Array[];
  readonly layerOf: ReadonlyMap<number, ChainLayer>;
  readonly invariant: boolean;
  readonly chain: ChainResult;
  readonly hasReference: boolean;
  /** The architecture is known to have no batch norm: every function-preserving rescale is compensated in the next layer (invariant.ts, balancedScales). */
  readonly balancedScales: boolean;
}

/** Layouts (the file's convention by vote, content where it speaks clearly, the invariant stage for chain kernels), then the invariant stage. */
function finishAlignment(assigned: ReadonlyMap<number, Assigned>, ctx: FinishContext): Finished {
  const { targets, sus, suspectNames, cands, refByName, masks, layerOf, invariant, chain } = ctx;
  const notes: string[] = [];
  let comparisons = 0;
  const vote = voteConvention([...assigned].map(([t, a]) => cands(t, a.suspect)), suspectNames);
  const layoutOptions = new Map<number, LayoutCandidate[]>();
  const chosen = new Map<number, LayoutCandidate>();
  for (const [t, a] of assigned) {
    const cs = byConvention(cands(t, a.suspect), vote.convention);
    const chainKernel = invariant && layerOf.get(t)?.kernel === t;
    if (chainKernel) {
      layoutOptions.set(t, cs);
    } else if (a.layout) {
      chosen.set(t, a.layout);
    } else if (cs.length === 1) {
      chosen.set(t, cs[0]!);
    } else {
      const ref = refByName.get(targets[t]!.name);
      const sc = ref ? scoreLayouts(ref, masks[t]!, sus[a.suspect]!, cs) : undefined;
      if (sc && sc.scored > 1) comparisons += sc.scored;
      if (sc && sc.best >= 0 && sc.score >= CONTENT_LAYOUT_MIN_R) {
        chosen.set(t, cs[sc.best]!);
      } else {
        chosen.set(t, cs[0]!);
        notes.push(`'${targets[t]!.name}': layout ambiguous (${cs.map((c) => c.label).join(' | ')}); took '${cs[0]!.label}' by the file's ${vote.convention} convention (${vote.tf} tf / ${vote.torch} torch votes)`);
      }
    }
  }

  const aligned = new Map<number, DenseTensor>();
  const transforms = new Map<number, string[]>();
  for (const [t, c] of chosen) {
    aligned.set(t, applyLayout(sus[assigned.get(t)!.suspect]!, c));
    transforms.set(t, [c.label]);
  }

  let fit = 0;
  if (invariant && chain.ok) {
    const r = invariantStage(chain.layers, targets, refByName, masks, sus, assigned, layoutOptions, aligned, transforms, notes, ctx.balancedScales);
    comparisons += r.comparisons;
    fit = r.fit;
  } else if (!ctx.hasReference) {
    notes.push('no reference model: neuron order and per-unit or per-tensor scaling were taken as read (a rescaled tensor weakens the pooled Pearson r; standardizeWithinTensors gives a scale-free combination)');
  }

  return { aligned, transforms, notes, comparisons, fit };
}

/** Every one-to-one arrangement of the weak targets' suspects that fits their shapes; null when there are more than `max`. */
function arrangements(weak: readonly number[], assigned: ReadonlyMap<number, Assigned>, cands: (t: number, s: number) => LayoutCandidate[], max: number): number[][] | null {
  const pool = weak.map((t) => assigned.get(t)!.suspect);
  const out: number[][] = [];
  const cur: number[] = [];
  const used = new Set<number>();
  let overflow = false;
  const go = (i: number): void => {
    if (overflow) return;
    if (i === weak.length) {
      out.push([...cur]);
      if (out.length > max) overflow = true;
      return;
    }
    for (const s of pool) {
      if (used.has(s) || cands(weak[i]!, s).length === 0) continue;
      used.add(s);
      cur.push(s);
      go(i + 1);
      cur.pop();
      used.delete(s);
    }
  };
  go(0);
  return overflow ? null : out;
}

/** Runs the invariant re-alignment over the chain, filling `aligned` and `transforms`; returns the alternatives scored and the fit. */
function invariantStage(
  layers: readonly ChainLayer[],
  targets: readonly TargetTensor[],
  refByName: ReadonlyMap<string, ParamTensor>,
  masks: readonly Uint8Array[],
  sus: readonly ParamTensor[],
  assigned: ReadonlyMap<number, Assigned>,
  layoutOptions: ReadonlyMap<number, LayoutCandidate[]>,
  aligned: Map<number, DenseTensor>,
  transforms: Map<number, string[]>,
  notes: string[],
  balancedScales: boolean,
): { comparisons: number; fit: number } {
  const inputs: InvariantLayer[] = layers.map((l) => {
    const opts = layoutOptions.get(l.kernel)!;
    const kSus = sus[assigned.get(l.kernel)!.suspect]!;
    return {
      layer: l,
      kernelOptions: opts.map((c) => ({ label: c.label, tensor: applyLayout(kSus, c) })),
      ...(l.bias !== undefined ? { bias: aligned.get(l.bias)!, refBias: refByName.get(targets[l.bias]!.name)!, biasMask: masks[l.bias]! } : {}),
      refKernel: refByName.get(targets[l.kernel]!.name)!,
      kernelMask: masks[l.kernel]!,
    };
  });
  const results = realignLayers(inputs, { balancedScales });
  let comparisons = 0;
  let fit = 0;
  results.forEach((r, li) => {
    fit += r.meanCorr;
    const l = layers[li]!;
    const prev = li > 0 ? results[li - 1] : undefined;
    if (r.tried > 1) comparisons += r.tried;
    const unitParts: string[] = [];
    if (r.permuted) unitParts.push(`units permuted (${r.method})`);
    if (r.dropped > 0) unitParts.push(`${r.dropped} extra unit(s) dropped`);
    if (r.mergedUnits > 0) unitParts.push(`${r.mergedUnits} split unit(s) merged`);
    if (r.missing > 0) unitParts.push(`${r.missing} unit(s) missing, zero-filled`);
    if (r.rescaled === 'per unit') unitParts.push('rescaled per unit');
    if (r.rescaled === 'per tensor') unitParts.push(`rescaled per tensor (÷${r.map.scale[0]!.toPrecision(4)})`);
    const inParts: string[] = [];
    if (prev?.permuted) inParts.push('inputs permuted');
    if (prev && prev.mergedUnits > 0) inParts.push('inputs of split units summed');
    if (prev && prev.rescaled === 'per unit') inParts.push(r.compensated ? 'inputs rescaled back' : 'inputs left unscaled (no compensation found)');
    aligned.set(l.kernel, r.kernel);
    transforms.set(l.kernel, [inputs[li]!.kernelOptions[r.option]!.label, ...inParts, ...unitParts]);
    if (l.bias !== undefined && r.bias) {
      aligned.set(l.bias, r.bias);
      transforms.set(l.bias, [...transforms.get(l.bias)!, ...unitParts]);
    }
    if (r.meanCorr < 0.5) notes.push(`layer '${l.name}': matched units correlate weakly with the reference (mean r = ${r.meanCorr.toFixed(3)}) — the suspect may be unrelated`);
  });
  return { comparisons, fit };
}

/** Greedy fixpoint: a target with exactly one fitting suspect that fits no other open target is mapped by shape. */
function byUniqueShape(nT: number, nS: number, assigned: ReadonlyMap<number, Assigned>, usedS: ReadonlySet<number>, fits: (t: number, s: number) => boolean, assign: (t: number, a: Assigned) => void): void {
  for (let changed = true; changed; ) {
    changed = false;
    const openT = range(nT).filter((t) => !assigned.has(t));
    const openS = range(nS).filter((s) => !usedS.has(s));
    for (const t of openT) {
      if (assigned.has(t)) continue;
      const ss = openS.filter((s) => !usedS.has(s) && fits(t, s));
      if (ss.length !== 1) continue;
      const s = ss[0]!;
      if (openT.some((o) => o !== t && !assigned.has(o) && fits(o, s))) continue;
      assign(t, { suspect: s, method: 'layout' });
      changed = true;
    }
  }
}

/** The tensors to align: the reference's (a superset of the key's) when given, else the key's. */
function targetsOf(key: WatermarkKey, reference: ParamSet | undefined): TargetTensor[] {
  if (!reference) return key.tensors.map((k) => ({ name: k.name, shape: [...k.shape] }));
  for (const k of key.tensors) {
    const r = reference.tensors.find((t) => t.name === k.name);
    if (!r) throw new Error(`Reference model has no tensor '${k.name}' of key '${key.id}'; it has: ${reference.tensors.map((t) => t.name).join(', ')}`);
    if (!sameShape(r.shape, k.shape)) throw new Error(`Reference tensor '${k.name}' has shape [${r.shape}], key '${key.id}' expects [${k.shape}]`);
  }
  return reference.tensors.map((t) => ({ name: t.name, shape: [...t.shape] }));
}

/** 1 at each keyed flat index of each target tensor. */
function keyMasks(key: WatermarkKey, targets: readonly TargetTensor[]): Uint8Array[] {
  const masks = targets.map((t) => new Uint8Array(sizeOf(t.shape)));
  const byName = new Map(targets.map((t, i) => [t.name, i] as const));
  for (let p = 0; p < key.tensorIndex.length; p++) {
    const kt = key.tensors[key.tensorIndex[p]!];
    const t = kt ? byName.get(kt.name) : undefined;
    if (t === undefined) throw new Error(`Key '${key.id}' position ${p} refers to tensor index ${key.tensorIndex[p]}, which the key does not list`);
    masks[t]![key.flatIndex[p]!] = 1;
  }
  return masks;
}

function contextOf(t: TargetTensor, layer: ChainLayer | undefined, invariant: boolean, archSpatial: number | undefined): TargetContext {
  const isBias = layer ? t.name.endsWith('/bias') : t.shape.length === 1;
  const role: TargetContext['role'] = isBias ? 'bias' : t.shape.length === 4 ? 'conv-kernel' : t.shape.length === 2 ? 'dense-kernel' : 'other';
  const spatial = layer ? layer.flatten?.spatial : archSpatial;
  return {
    target: t,
    role,
    ...(spatial !== undefined && !isBias ? { flattenSpatial: spatial } : {}),
    flexibleIn: invariant && layer !== undefined && !layer.isFirst,
    flexibleOut: invariant && layer !== undefined && !layer.isOutput,
  };
}

/** For each dense kernel right after a conv (through a flatten) in the architecture: the spatial positions flattened. Used when the key's tensors do not form a complete chain. */
function flattenSpatialByKernel(arch: Architecture): Map<string, number> {
  const shapes = activationShapes(arch);
  const out = new Map<string, number>();
  let lastParam: string | undefined;
  arch.layers.forEach((l, i) => {
    if (l.type === 'dense' && lastParam === 'conv2d' && i > 0) {
      const flat = arch.layers.findIndex((x, j) => j < i && x.type === 'flatten');
      const before = flat > 0 ? shapes[flat - 1] : undefined;
      if (before && before.length === 3) out.set(`${l.name}/kernel`, before[0]! * before[1]!);
    }
    if (l.type === 'dense' || l.type === 'conv2d') lastParam = l.type;
  });
  return out;
}

function archByName(name: string | undefined): Architecture | undefined {
  if (name === undefined) return undefined;
  try {
    return getArchitecture(name);
  } catch {
    return undefined;
  }
}

/** A content match is trusted when r is large and, for the tensor's size, far beyond chance (Fisher z ≥ 4). */
function contentIsClear(r: number, size: number): boolean {
  return r >= CONTENT_LAYOUT_MIN_R && size > 3 && Math.atanh(Math.min(r, 1 - 1e-12)) * Math.sqrt(size - 3) >= 4;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
