/**
 * Invariant re-alignment against the reference: undoes the function-preserving attacks — neuron
 * permutation and ReLU rescaling (Yan et al., KDD 2023), dummy neurons (neural structural
 * obfuscation, Yan et al., USENIX Security 2023) — and per-channel rescaling from folded BatchNorm.
 *
 * Layer by layer, in order: the suspect's input axis is first put in reference order with the previous
 * layer's unit map (and the previous layer's per-unit scales multiplied back, undoing the attacker's
 * compensation); then each reference unit (output channel / neuron: its incoming weights and bias) is
 * matched to a suspect unit by the correlation of those vectors (scale-free), solved as a linear
 * assignment; suspect units left over (dummy neurons) are dropped; each matched unit's positive scale is
 * estimated (norm ratio to the reference unit) and divided out. Output-layer units are the classes
 * and are never permuted; only a per-tensor scale is undone there.
 *
 * The reference's keyed positions are excluded from every correlation and scale estimate, so the
 * unit maps never depend on the key's values (alignment cannot manufacture a match).
 */
import { solveAssignment } from '../linearAssignment.js';
import type { ChainLayer } from './chain.js';
import type { DenseTensor } from './tensorOps.js';

export interface UnitMap {
  /** For each reference unit i: the suspect unit matched to it, or -1 when none is left. */
  readonly perm: Int32Array;
  /** Suspect unit ≈ scale[i] · reference unit i (1 for unmatched units). */
  readonly scale: Float64Array;
  /**
   * Split units folded into reference unit i: further suspect units whose incoming weights and bias are
   * factor × those of perm[i] (a neuron split, or a dummy clique copying a real unit). Their outgoing
   * weights add to perm[i]'s, times factor (ReLU is positively homogeneous).
   */
  readonly merged: readonly (readonly { readonly unit: number; readonly factor: number }[])[];
}

/** Incoming vectors (weights and bias) this close to proportional (cosine) are one neuron split in parts. */
const SPLIT_MIN_COS = 0.99999;

export interface KernelOption {
  /** The layout the suspect kernel was read with. */
  readonly label: string;
  /** The suspect kernel in our axis order (HWIO / [in,out]); the in/out sizes may differ from the reference's. */
  readonly tensor: DenseTensor;
}

export interface InvariantLayer {
  readonly layer: ChainLayer;
  /** Alternatives for the kernel's layout; the one whose units match the reference best is kept. */
  readonly kernelOptions: readonly KernelOption[];
  readonly bias?: DenseTensor;
  readonly refKernel: DenseTensor;
  readonly refBias?: DenseTensor;
  /** 1 at keyed positions (flat indices of the reference tensors). */
  readonly kernelMask: Uint8Array;
  readonly biasMask?: Uint8Array;
}

export interface InvariantLayerResult {
  readonly kernel: DenseTensor;
  readonly bias?: DenseTensor;
  readonly option: number;
  /** Whether the previous layer's scales were multiplied back into this layer's inputs. */
  readonly compensated: boolean;
  readonly map: UnitMap;
  /** Mean correlation of matched units with their reference units (keyed entries excluded). */
  readonly meanCorr: number;
  readonly method: 'exact' | 'greedy' | 'fixed';
  readonly permuted: boolean;
  readonly dropped: number;
  /** Suspect units folded into a matched unit as parts of a split neuron. */
  readonly mergedUnits: number;
  readonly missing: number;
  readonly rescaled: 'none' | 'per unit' | 'per tensor';
  /** Alternatives scored for this layer (layouts x compensation). */
  readonly tried: number;
}

/** Units per layer used to screen layout / compensation alternatives before the full matching. */
const SCREEN_UNITS = 32;

/**
 * Realigns every layer of the chain in order. Per layer, the alternatives (kernel layouts x whether
 * the previous scales are multiplied back) are screened on a few units and the best is matched fully.
 * @throws Error when an output layer's unit count differs from the reference's.
 */
export function realignLayers(layers: readonly InvariantLayer[]): InvariantLayerResult[] {
  const out: InvariantLayerResult[] = [];
  let prev: UnitMap | undefined;
  for (const l of layers) {
    const compensations = prev && prev.scale.some((s) => Math.abs(s - 1) > 1e-3) ? [true, false] : [true];
    const alts: { option: number; compensated: boolean; kin: DenseTensor }[] = [];
    l.kernelOptions.forEach((opt, oi) => {
      for (const comp of compensations) alts.push({ option: oi, compensated: comp, kin: prev ? remapInputs(opt.tensor, l.layer, prev, comp) : opt.tensor });
    });
    if (alts.length === 0) throw new Error(`Layer '${l.layer.name}': no kernel layout to align`);
    // Several alternatives: screen them on a few units (best-match correlation), then match fully only the winner.
    let pick = alts[0]!;
    if (alts.length > 1) {
      let bestScore = -Infinity;
      for (const a of alts) {
        const sc = unitMatcher(l, a.kin).screen(SCREEN_UNITS);
        if (sc > bestScore + 1e-9) {
          bestScore = sc;
          pick = a;
        }
      }
    }
    const r = unitMatcher(l, pick.kin).match();
    const done: InvariantLayerResult = { ...r, option: pick.option, compensated: pick.compensated, tried: alts.length };
    out.push(done);
    prev = done.map;
  }
  return out;
}

/**
 * Puts the kernel's input axis in reference order: reference input j takes suspect input perm[j], plus
 * factor x the inputs of units merged into it (split neurons), times scale[j] when compensating. For a
 * dense layer after a flatten, rows are HWC: s*C + c.
 */
export function remapInputs(k: DenseTensor, layer: ChainLayer, prev: UnitMap, compensate: boolean): DenseTensor {
  const shape = k.shape;
  const out = shape[shape.length - 1]!;
  const inS = shape[shape.length - 2]!;
  const Cr = prev.perm.length;
  let P: number;
  let Cs: number;
  let outShape: number[];
  if (layer.kind === 'conv') {
    P = shape[0]! * shape[1]!;
    Cs = inS;
    outShape = [shape[0]!, shape[1]!, Cr, out];
  } else if (layer.flatten) {
    P = layer.flatten.spatial;
    Cs = inS / P;
    outShape = [P * Cr, out];
  } else {
    P = 1;
    Cs = inS;
    outShape = [Cr, out];
  }
  const data = new Float32Array(P * Cr * out);
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < Cr; j++) {
      const sj = prev.perm[j]!;
      if (sj < 0) continue;
      const f = compensate ? prev.scale[j]! : 1;
      const dst = (p * Cr + j) * out;
      for (const [unit, factor] of [[sj, 1] as const, ...prev.merged[j]!.map((x) => [x.unit, x.factor] as const)]) {
        const src = (p * Cs + unit) * out;
        for (let u = 0; u < out; u++) data[dst + u] = data[dst + u]! + k.data[src + u]! * factor * f;
      }
    }
  }
  return { shape: outShape, data };
}

type MatchResult = Omit<InvariantLayerResult, 'option' | 'compensated' | 'tried'>;

/**
 * Correlations between reference and suspect units (kin has the reference's input axis already):
 * `screen(k)` = mean best-match correlation of k evenly spread reference units; `match()` = the full
 * assignment, scales and realigned tensors.
 */
function unitMatcher(l: InvariantLayer, kin: DenseTensor): { screen(k: number): number; match(): MatchResult } {
  const n = l.refKernel.shape[l.refKernel.shape.length - 1]!;
  const m = kin.shape[kin.shape.length - 1]!;
  const R = l.refKernel.data.length / n;
  if (kin.data.length / m !== R) throw new Error(`Layer '${l.layer.name}': suspect kernel [${kin.shape}] does not line up with reference [${l.refKernel.shape}]`);
  const hasBias = l.refBias !== undefined && l.bias !== undefined;
  const D = R + (hasBias ? 1 : 0);
  // Unit-major copies: one row per unit, its incoming weights then its bias.
  const X = new Float64Array(m * D);
  const Y = new Float64Array(n * D);
  const masked: number[][] = Array.from({ length: n }, () => []);
  for (let r = 0; r < R; r++) {
    for (let u = 0; u < m; u++) X[u * D + r] = kin.data[r * m + u]!;
    for (let i = 0; i < n; i++) {
      Y[i * D + r] = l.refKernel.data[r * n + i]!;
      if (l.kernelMask[r * n + i]) masked[i]!.push(r);
    }
  }
  if (hasBias) {
    for (let u = 0; u < m; u++) X[u * D + R] = l.bias!.data[u]!;
    for (let i = 0; i < n; i++) {
      Y[i * D + R] = l.refBias!.data[i]!;
      if (l.biasMask?.[i]) masked[i]!.push(R);
    }
  }
  const sx = new Float64Array(m);
  const sxx = new Float64Array(m);
  for (let u = 0; u < m; u++) {
    let a = 0;
    let b = 0;
    for (let k = 0; k < D; k++) {
      const v = X[u * D + k]!;
      a += v;
      b += v * v;
    }
    sx[u] = a;
    sxx[u] = b;
  }
  const yc = new Float64Array(D); // reference unit centred over its unmasked entries, 0 where masked
  const corrOf = (i: number, cols: readonly number[] | null, into: Float64Array): void => {
    const mi = masked[i]!;
    const nU = D - mi.length;
    const isMasked = new Uint8Array(D);
    for (const k of mi) isMasked[k] = 1;
    let my = 0;
    for (let k = 0; k < D; k++) if (!isMasked[k]) my += Y[i * D + k]!;
    my /= Math.max(nU, 1);
    let vy = 0;
    for (let k = 0; k < D; k++) {
      const v = isMasked[k] ? 0 : Y[i * D + k]! - my;
      yc[k] = v;
      vy += v * v;
    }
    const us = cols ?? range(m);
    for (let ui = 0; ui < us.length; ui++) {
      const u = us[ui]!;
      let a = sx[u]!;
      let b = sxx[u]!;
      for (const k of mi) {
        const v = X[u * D + k]!;
        a -= v;
        b -= v * v;
      }
      const vx = b - (a * a) / Math.max(nU, 1);
      const base = u * D;
      // Four accumulators: V8 does not vectorise, but independent sums let the adds overlap (≈2x here).
      let d0 = 0, d1 = 0, d2 = 0, d3 = 0;
      let k = 0;
      for (; k + 3 < D; k += 4) {
        d0 += yc[k]! * X[base + k]!;
        d1 += yc[k + 1]! * X[base + k + 1]!;
        d2 += yc[k + 2]! * X[base + k + 2]!;
        d3 += yc[k + 3]! * X[base + k + 3]!;
      }
      for (; k < D; k++) d0 += yc[k]! * X[base + k]!;
      const dot = d0 + d1 + d2 + d3;
      into[ui] = vx > 1e-30 && vy > 1e-30 && nU >= 3 ? dot / Math.sqrt(vx * vy) : 0;
    }
  };

  const screen = (k: number): number => {
    const row = new Float64Array(m);
    const one = new Float64Array(1);
    const count = Math.min(k, n);
    let sum = 0;
    for (let q = 0; q < count; q++) {
      const i = Math.floor((q * n) / count);
      if (l.layer.isOutput) {
        corrOf(i, [i], one);
        sum += one[0]!;
      } else {
        corrOf(i, null, row);
        let best = -Infinity;
        for (let u = 0; u < m; u++) best = Math.max(best, row[u]!);
        sum += best;
      }
    }
    return sum / count;
  };

  const match = (): MatchResult => {
    const perm = new Int32Array(n).fill(-1);
    const corr = new Float64Array(n);
    let method: MatchResult['method'];
    if (l.layer.isOutput) {
      if (m !== n) throw new Error(`Output layer '${l.layer.name}': the suspect has ${m} units, the reference ${n}; classes cannot be dropped or added`);
      const one = new Float64Array(1);
      for (let i = 0; i < n; i++) {
        perm[i] = i;
        corrOf(i, [i], one);
        corr[i] = one[0]!;
      }
      method = 'fixed';
    } else {
      const cost = new Float64Array(n * m);
      const row = new Float64Array(m);
      for (let i = 0; i < n; i++) {
        corrOf(i, null, row);
        for (let u = 0; u < m; u++) cost[i * m + u] = -row[u]!;
      }
      const a = solveAssignment(cost, n, m);
      for (let i = 0; i < n; i++) {
        perm[i] = a.rowToCol[i]!;
        if (perm[i]! >= 0) corr[i] = -cost[i * m + perm[i]!]!;
      }
      method = a.method;
    }

    // Positive scales as the norm ratio ‖suspect‖/‖reference‖ over the unmasked incoming weights. It is
    // exact for a rescaled copy, slightly high (√(1+noise share)) after fine-tuning, and, unlike least
    // squares (= r · norm ratio), never blows an unrelated unit's values up when r is small. Weights only:
    // a folded BatchNorm shifts biases.
    const scale = new Float64Array(n).fill(1);
    const normRatio = (pairs: readonly [number, number][]): number => {
      let yy = 0;
      let xx = 0;
      for (const [i, u] of pairs) {
        const mi = new Set(masked[i]!);
        for (let k = 0; k < R; k++) {
          if (mi.has(k)) continue;
          const x = X[u * D + k]!;
          const y = Y[i * D + k]!;
          yy += y * y;
          xx += x * x;
        }
      }
      const ratio = Math.sqrt(xx / yy);
      return Number.isFinite(ratio) && ratio > 0 ? ratio : 1;
    };
    let rescaled: MatchResult['rescaled'] = 'none';
    if (l.layer.isOutput) {
      const s = normRatio(range(n).map((i) => [i, i] as [number, number]));
      if (Math.abs(s - 1) > 1e-4) {
        scale.fill(s);
        rescaled = 'per tensor';
      }
    } else {
      for (let i = 0; i < n; i++) if (perm[i]! >= 0) scale[i] = normRatio([[i, perm[i]!]]);
      if (scale.some((s) => Math.abs(s - 1) > 1e-4)) rescaled = 'per unit';
    }

    const kernel = new Float32Array(R * n);
    const bias = hasBias ? new Float32Array(n) : undefined;
    for (let i = 0; i < n; i++) {
      const u = perm[i]!;
      if (u < 0) continue;
      const f = 1 / scale[i]!;
      for (let r = 0; r < R; r++) kernel[r * n + i] = kin.data[r * m + u]! * f;
      if (bias) bias[i] = l.bias!.data[u]! * f;
    }
    const matched = perm.filter((u) => u >= 0).length;
    const merged = l.layer.isOutput ? Array.from({ length: n }, () => []) : findSplits(X, D, m, perm);
    const mergedCount = merged.reduce((a, x) => a + x.length, 0);
    let sumCorr = 0;
    for (let i = 0; i < n; i++) if (perm[i]! >= 0) sumCorr += corr[i]!;
    const permuted = m !== n || perm.some((u, i) => u !== i);
    return {
      kernel: { shape: [...l.refKernel.shape], data: kernel },
      ...(bias ? { bias: { shape: [n], data: bias } } : {}),
      map: { perm, scale, merged },
      meanCorr: matched > 0 ? sumCorr / matched : 0,
      method,
      permuted,
      dropped: m - matched - mergedCount,
      mergedUnits: mergedCount,
      missing: n - matched,
      rescaled,
    };
  };
  return { screen, match };
}

/**
 * For each matched unit, the unmatched suspect units whose incoming vector (weights and bias) is a
 * positive multiple of it (cosine ≥ SPLIT_MIN_COS). Uses only the suspect's own weights, so it is key-blind.
 */
function findSplits(X: Float64Array, D: number, m: number, perm: Int32Array): { unit: number; factor: number }[][] {
  const merged: { unit: number; factor: number }[][] = Array.from({ length: perm.length }, () => []);
  const taken = new Set<number>(perm);
  const norms = Float64Array.from({ length: m }, (_, u) => {
    let b = 0;
    for (let k = 0; k < D; k++) b += X[u * D + k]! ** 2;
    return Math.sqrt(b);
  });
  for (let u = 0; u < m; u++) {
    if (taken.has(u) || !(norms[u]! > 0)) continue;
    let best = -1;
    let bestCos = SPLIT_MIN_COS;
    perm.forEach((v, i) => {
      if (v < 0 || !(norms[v]! > 0)) return;
      let dot = 0;
      for (let k = 0; k < D; k++) dot += X[u * D + k]! * X[v * D + k]!;
      const cos = dot / (norms[u]! * norms[v]!);
      if (cos >= bestCos) {
        bestCos = cos;
        best = i;
      }
    });
    if (best >= 0) merged[best]!.push({ unit: u, factor: norms[u]! / norms[perm[best]!]! });
  }
  return merged;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
