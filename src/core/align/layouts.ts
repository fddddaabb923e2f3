/**
 * Stage (b): the layouts under which a suspect tensor can be read as a target tensor — axis
 * permutations (OIHW→HWIO, [out,in]→[in,out]), dropped size-1 axes, and for the first dense layer
 * after a flatten the CHW→HWC row reordering. With `flexibleIn/Out` (invariant alignment) the unit
 * counts may differ from the target's (dummy neurons are dropped later).
 */
import { flattenChwToHwc, sameShape, squeezeShape, transpose, type DenseTensor } from './tensorOps.js';
import type { TargetTensor } from './types.js';

/** Toolchain conventions: 'tf' = HWIO, [in,out], HWC flatten; 'torch' = OIHW, [out,in], CHW flatten. */
export type Convention = 'tf' | 'torch';

export interface TargetContext {
  readonly target: TargetTensor;
  readonly role: 'conv-kernel' | 'dense-kernel' | 'bias' | 'other';
  /** Spatial positions S of the flatten feeding this dense kernel (rows = S*C). */
  readonly flattenSpatial?: number;
  /** The input axis (kernel) may differ in size from the target's. */
  readonly flexibleIn: boolean;
  /** The unit axis (kernel's last, bias) may differ in size from the target's. */
  readonly flexibleOut: boolean;
}

export interface LayoutCandidate {
  /** e.g. "identity", "transpose[2,3,1,0] (OIHW→HWIO)", "transpose[1,0]; flatten CHW→HWC". */
  readonly label: string;
  /** The convention it implies, or undefined when it implies none (biases, identity on neutral tensors). */
  readonly convention?: Convention | 'mixed';
  readonly squeeze: boolean;
  readonly perm?: readonly number[];
  /** Suspect channel count C' for the CHW→HWC row reordering. */
  readonly chwChannels?: number;
  /** Shape after the transform (our axis order; unit counts may differ from the target under flexibility). */
  readonly shape: readonly number[];
}

interface PermSpec {
  readonly perm: readonly number[];
  readonly name: string;
  readonly convention: Convention | undefined;
}

const CONV_PERMS: readonly PermSpec[] = [
  { perm: [0, 1, 2, 3], name: 'HWIO', convention: 'tf' },
  { perm: [2, 3, 1, 0], name: 'OIHW→HWIO', convention: 'torch' },
  { perm: [1, 2, 3, 0], name: 'OHWI→HWIO', convention: undefined },
];
const DENSE_PERMS: readonly PermSpec[] = [
  { perm: [0, 1], name: '[in,out]', convention: 'tf' },
  { perm: [1, 0], name: '[out,in]→[in,out]', convention: 'torch' },
];

function isIdentity(perm: readonly number[]): boolean {
  return perm.every((p, i) => p === i);
}

/** Every layout under which `suspectShape` reads as the target (in order of the tf convention first). */
export function layoutCandidates(ctx: TargetContext, suspectShape: readonly number[]): LayoutCandidate[] {
  const t = ctx.target.shape;
  let shape = [...suspectShape];
  let squeeze = false;
  if (shape.length !== t.length) {
    const sq = squeezeShape(shape);
    const tq = squeezeShape(t);
    if (sq.length === t.length) {
      shape = sq;
      squeeze = true;
    } else if (sq.length === tq.length && ctx.role === 'other' && sameShape(sq, tq)) {
      return [{ label: `reshape [${suspectShape}]→[${t}]`, squeeze: true, shape: [...t] }];
    } else {
      return [];
    }
  }
  const out: LayoutCandidate[] = [];
  const squeezeLabel = squeeze ? [`reshape [${suspectShape}]→[${shape}]`] : [];
  if (ctx.role === 'bias' || ctx.role === 'other') {
    const fits = ctx.role === 'bias' ? shape.length === 1 && (shape[0] === t[0] || (ctx.flexibleOut && shape[0]! > 0)) : sameShape(shape, t);
    if (fits) out.push({ label: [...squeezeLabel, 'identity'].join('; '), squeeze, shape });
    return out;
  }
  const perms = ctx.role === 'conv-kernel' ? CONV_PERMS : DENSE_PERMS;
  if (shape.length !== perms[0]!.perm.length) return [];
  for (const p of perms) {
    const ps = p.perm.map((i) => shape[i]!);
    const r = ps.length;
    let ok = true;
    for (let i = 0; i < r - 2; i++) if (ps[i] !== t[i]) ok = false;
    const inOk = ps[r - 2] === t[r - 2] || (ctx.flexibleIn && (ctx.flattenSpatial === undefined || ps[r - 2]! % ctx.flattenSpatial === 0));
    const outOk = ps[r - 1] === t[r - 1] || ctx.flexibleOut;
    if (!ok || !inOk || !outOk) continue;
    const base = [...squeezeLabel, isIdentity(p.perm) ? 'identity' : `transpose[${p.perm.join(',')}] (${p.name})`];
    const S = ctx.flattenSpatial;
    const C = S !== undefined ? ps[r - 2]! / S : 1;
    if (S !== undefined && S > 1 && C > 1) {
      out.push({ label: base.join('; '), convention: p.convention === 'tf' ? 'tf' : 'mixed', squeeze, perm: p.perm, shape: ps });
      out.push({ label: [...base, 'flatten CHW→HWC'].join('; '), convention: p.convention === 'torch' ? 'torch' : 'mixed', squeeze, perm: p.perm, chwChannels: C, shape: ps });
    } else {
      out.push({ label: base.join('; '), ...(p.convention ? { convention: p.convention } : {}), squeeze, perm: p.perm, shape: ps });
    }
  }
  // A square kernel can read both ways; identical shapes and identical labels never repeat.
  return out;
}

/** Applies a layout candidate to a suspect tensor, giving it our axis order. */
export function applyLayout(t: DenseTensor, c: LayoutCandidate): DenseTensor {
  let cur: DenseTensor = c.squeeze ? { shape: squeezeShape(t.shape), data: t.data } : t;
  if (c.perm && !isIdentity(c.perm)) cur = transpose(cur, c.perm);
  if (c.chwChannels !== undefined) cur = flattenChwToHwc(cur, c.chwChannels);
  if (!sameShape(cur.shape, c.shape)) cur = { shape: c.shape, data: cur.data };
  return cur;
}

/** Orders candidates so that those of the preferred convention come first, 'mixed' ones last. */
export function byConvention(cands: readonly LayoutCandidate[], preferred: Convention): LayoutCandidate[] {
  const rank = (c: LayoutCandidate): number => (c.convention === undefined || c.convention === preferred ? 0 : c.convention === 'mixed' ? 2 : 1);
  return [...cands].sort((a, b) => rank(a) - rank(b));
}

/**
 * The file's convention by vote of the tensors whose layout is unambiguous (all candidates agree);
 * ties fall to the naming style ('.weight' / 'onnx::' names are PyTorch's), then to 'tf'.
 */
export function voteConvention(candidateLists: readonly (readonly LayoutCandidate[])[], suspectNames: readonly string[]): { convention: Convention; tf: number; torch: number } {
  let tf = 0;
  let torch = 0;
  for (const cands of candidateLists) {
    const conv = new Set(cands.map((c) => c.convention).filter((c) => c !== undefined && c !== 'mixed'));
    if (conv.size !== 1) continue;
    if (conv.has('tf')) tf++;
    else torch++;
  }
  if (tf !== torch) return { convention: tf > torch ? 'tf' : 'torch', tf, torch };
  const torchNames = suspectNames.some((n) => /\.(weight|bias)$/.test(n) || n.startsWith('onnx::'));
  return { convention: torchNames ? 'torch' : 'tf', tf, torch };
}
