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
 * estimated (norm ratio to the reference unit; without batch norm, from both sides of the unit once the
 * next layer is matched: balancedScales) and divided out. Output-layer units are the classes
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

/** Rounds of the row/column balancings (balanceSquares): in the last of 12 no factor of models/allcnnc or allcnnc-60, aligned onto its anchor, moves by more than 3e-7 in log scale. */
const BALANCE_ROUNDS = 12;

/** Units per layer used to screen layout / compensation alternatives before the full matching. */
const SCREEN_UNITS = 32;

/**
 * Realigns every layer of the chain in order. Per layer, the alternatives (kernel layouts x whether
 * the previous scales are multiplied back) are screened on a few units and the best is matched fully.
 * @throws Error when an output layer's unit count differs from the reference's.
 */
export function realignLayers(layers: readonly InvariantLayer[], opts: { readonly balancedScales?: boolean } = {}): InvariantLayerResult[] {
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
    const balanced = opts.balancedScales === true;
    let r = unitMatcher(l, pick.kin, balanced).match();
    let compensated = pick.compensated;
    if (prev && balanced && out[out.length - 1]!.rescaled === 'per unit') {
      // The units are matched now: re-estimate the previous layer's scales from both sides, then read this layer's inputs with them.
      const tensor = l.kernelOptions[pick.option]!.tensor;
      const withBalanced: UnitMap = { ...prev, scale: balancedScales(prev, remapInputs(tensor, l.layer, prev, false), l, r.map.perm) };
      out[out.length - 1] = withUnitScales(out[out.length - 1]!, withBalanced.scale);
      r = unitMatcher(l, remapInputs(tensor, l.layer, withBalanced, true), balanced).match({ perm: r.map.perm, method: r.method });
      compensated = true;
    }
    const done: InvariantLayerResult = { ...r, option: pick.option, compensated, tried: alts.length };
    out.push(done);
    prev = done.map;
  }
  return out;
}

/**
 * Row and column factors of E_suspect[r,c] ≈ E_reference[r,c] · x_r · y_c (squared weights summed per
 * block), found by fitting columns then rows in turn for BALANCE_ROUNDS rounds from the given x. Rows
 * that are not live keep their x and count in no column. Returns x.
 */
function balanceSquares(Es: Float64Array, Er: Float64Array, rows: number, cols: number, x: Float64Array, live: (r: number) => boolean): Float64Array {
  const y = new Float64Array(cols).fill(1);
  for (let round = 0; round < BALANCE_ROUNDS; round++) {
    for (let c = 0; c < cols; c++) {
      let es = 0;
      let er = 0;
      for (let r = 0; r < rows; r++) {
        if (!live(r)) continue;
        es += Es[r * cols + c]!;
        er += Er[r * cols + c]! * x[r]!;
      }
      y[c] = es > 0 && er > 0 ? es / er : 1;
    }
    for (let r = 0; r < rows; r++) {
      if (!live(r)) continue;
      let es = 0;
      let er = 0;
      for (let c = 0; c < cols; c++) {
        es += Es[r * cols + c]!;
        er += Er[r * cols + c]! * y[c]!;
      }
      if (es > 0 && er > 0) x[r] = es / er;
    }
  }
  return x;
}

/** exp(mean log(num_j / den_j)) over the live j where both are finite and positive; 1 when there are none. */
function geometricRatio(num: Float64Array, den: Float64Array, live: (j: number) => boolean): number {
  let sum = 0;
  let count = 0;
  num.forEach((v, j) => {
    const d = den[j]!;
    if (!live(j) || !(v > 0 && d > 0) || !Number.isFinite(v) || !Number.isFinite(d)) return;
    sum += Math.log(v / d);
    count++;
  });
  return count > 0 ? Math.exp(sum / count) : 1;
}

/**
 * Per-unit scales of the previous layer that a long training run's drift cancels out of. Its incoming
 * norm ratio a_j (suspect over reference) mixes an attacker's rescaling c_j with the drift of unit j
 * since the reference; its outgoing weights (this layer's input slice j) carry 1/c_j and a drift of
 * their own: a function-preserving rescale multiplies the incoming weights by c_j and divides the
 * outgoing ones by it. Drift moves both sides together (a unit grows or fades as a whole: the log ratios
 * correlate at 0.93–0.998 in ALL-CNN-C's conv2–conv7 52 epochs after its anchor), so √(a_j · q_j), q_j the outgoing
 * side's estimate of c_j, is c_j with the drift mostly cancelled, and exactly c_j for a rescaled copy.
 * Only right where no batch norm sits between the layers: a folded norm scales the incoming side alone.
 *
 * q comes from this layer's matched units (perm; extra and dummy units left out), whose own scales h_k
 * are unknown too: the squared weights E[j,k] (summed over the kernel's positions) are balanced as
 * E_suspect[j,k] ≈ E_reference[j,k] · h_k² / q_j², rows and columns in turn, from q = a (a fixed point
 * for a rescaled copy); q's overall level is free and set to a's (geometric mean). Keyed reference
 * positions are left out, as from every other estimate. A unit without outgoing weights keeps a_j.
 */
function balancedScales(prev: UnitMap, kin: DenseTensor, l: InvariantLayer, perm: Int32Array): Float64Array {
  const ref = l.refKernel;
  const a = prev.scale;
  const Cr = prev.perm.length;
  const m = kin.shape[kin.shape.length - 1]!;
  const n = ref.shape[ref.shape.length - 1]!;
  const rows = kin.data.length / m;
  if (ref.data.length / n !== rows || rows % Cr !== 0) return Float64Array.from(a);
  const Es = new Float64Array(Cr * n);
  const Er = new Float64Array(Cr * n);
  for (let row = 0; row < rows; row++) {
    const j = row % Cr;
    for (let k = 0; k < n; k++) {
      if (perm[k]! < 0 || l.kernelMask[row * n + k] === 1) continue;
      Es[j * n + k] = Es[j * n + k]! + kin.data[row * m + perm[k]!]! ** 2;
      Er[j * n + k] = Er[j * n + k]! + ref.data[row * n + k]! ** 2;
    }
  }
  const usable = Array.from({ length: Cr }, (_, j) => {
    if (prev.perm[j]! < 0) return false;
    let e = 0;
    for (let k = 0; k < n; k++) e += Er[j * n + k]!;
    return e > 0;
  });
  // E_suspect[j,k] = E_reference[j,k] · h_k² / q_j²: rows carry 1/q_j².
  const inv = balanceSquares(Es, Er, Cr, n, Float64Array.from(a, (v) => 1 / (v * v)), (j) => usable[j]!);
  const q = inv.map((v) => 1 / Math.sqrt(v));
  const level = geometricRatio(a, q, (j) => usable[j]!);
  const s = Float64Array.from(a, (aj, j) => (usable[j] ? Math.sqrt(aj * q[j]! * level) : NaN));
  // A unit with nothing to read on its outgoing side keeps a_j, at the level of the others.
  const shift = geometricRatio(s, a, (j) => usable[j]!);
  return s.map((v, j) => (v > 0 && Number.isFinite(v) ? v : a[j]! * shift));
}

/**
 * The incoming side's scales a_j, balanced the same way: the input rows still carry whatever the
 * previous layer's units drifted by (its estimate only takes out what both sides agree on), and that
 * weighs differently into each unit's norm. Squared weights summed per (input channel c, unit j),
 * E_suspect[c,j] ≈ E_reference[c,j] · g_c² · a_j², keyed entries left out; from the plain norm ratios
 * (a fixed point when the inputs are already in reference scale), whose geometric mean sets the level.
 */
function incomingScales(X: Float64Array, Y: Float64Array, D: number, R: number, C: number, perm: Int32Array, masked: readonly number[][], plain: Float64Array): Float64Array {
  const n = perm.length;
  if (R % C !== 0) return plain;
  const Es = new Float64Array(n * C);
  const Er = new Float64Array(n * C);
  for (let j = 0; j < n; j++) {
    const u = perm[j]!;
    if (u < 0) continue;
    const skip = new Set(masked[j]!);
    for (let k = 0; k < R; k++) {
      if (skip.has(k)) continue;
      const c = k % C;
      Es[j * C + c] = Es[j * C + c]! + X[u * D + k]! ** 2;
      Er[j * C + c] = Er[j * C + c]! + Y[j * D + k]! ** 2;
    }
  }
  const live = (j: number): boolean => perm[j]! >= 0;
  // E_suspect[j,c] = E_reference[j,c] · a_j² · g_c²: rows carry a_j².
  const a2 = balanceSquares(Es, Er, n, C, Float64Array.from(plain, (v) => v * v), live);
  const level = geometricRatio(plain, a2.map(Math.sqrt), live);
  return Float64Array.from(plain, (p, j) => {
    const v = Math.sqrt(a2[j]!) * level;
    return live(j) && Number.isFinite(v) && v > 0 ? v : p;
  });
}

/** Input channels of a layer's kernel rows (row k reads channel k mod C: HWIO, [in, out], a flatten's HWC rows). */
function inputChannels(l: InvariantLayer): number {
  const shape = l.refKernel.shape;
  if (l.layer.kind === 'conv') return shape[shape.length - 2]!;
  return l.layer.flatten ? l.layer.flatten.channels : shape[0]!;
}

/** A layer's result re-scaled: unit i's values multiplied by old/new scale, so they read as divided by the new one. */
function withUnitScales(r: InvariantLayerResult, scale: Float64Array): InvariantLayerResult {
  const n = scale.length;
  const kernel = Float32Array.from(r.kernel.data, (v, k) => (v * r.map.scale[k % n]!) / scale[k % n]!);
  const bias = r.bias ? { shape: r.bias.shape, data: Float32Array.from(r.bias.data, (v, i) => (v * r.map.scale[i]!) / scale[i]!) } : undefined;
  return { ...r, kernel: { shape: r.kernel.shape, data: kernel }, ...(bias ? { bias } : {}), map: { ...r.map, scale } };
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
function unitMatcher(l: InvariantLayer, kin: DenseTensor, balanced = false): { screen(k: number): number; match(fixed?: { readonly perm: Int32Array; readonly method: MatchResult['method'] }): MatchResult } {
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

  const match = (fixed?: { readonly perm: Int32Array; readonly method: MatchResult['method'] }): MatchResult => {
    const perm = new Int32Array(n).fill(-1);
    const corr = new Float64Array(n);
    let method: MatchResult['method'];
    if (fixed && !l.layer.isOutput) {
      const one = new Float64Array(1);
      for (let i = 0; i < n; i++) {
        perm[i] = fixed.perm[i]!;
        if (perm[i]! < 0) continue;
        corrOf(i, [perm[i]!], one);
        corr[i] = one[0]!;
      }
      method = fixed.method;
    } else if (l.layer.isOutput) {
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
      if (balanced) scale.set(incomingScales(X, Y, D, R, inputChannels(l), perm, masked, scale));
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
