/**
 * A key bank: every key that shares one reference model, packed into flat typed arrays, so a suspect
 * aligned once onto that reference is scored against all of them in one pass — O(Σ n) arithmetic, no
 * per-key object, no per-key alignment. The arrays can live in SharedArrayBuffers and be handed to
 * worker threads without a copy. Scores come from the same per-tensor sums as scoreAgainstKey.
 */
import { sizeOf, type ParamSet } from './paramSet.js';
import { addToSums, effectiveCombination, emptySums, lnChiSquareEvenTail, lnTailLowerBound, MIN_GROUP_POSITIONS, scoreFromSums, tOf, type CombineOptions, type GroupSums, type Score } from './score.js';
import { layerOfTensor } from './keyLayers.js';
import type { KeyedTensor, WatermarkKey } from './watermarkKey.js';

export interface KeyBank {
  /** The bank's tensors (the union of its keys' tensors, by name), and the layer of each. */
  readonly tensors: readonly KeyedTensor[];
  readonly layers: readonly string[];
  readonly ids: readonly string[];
  /** Key k's positions are [offsets[k], offsets[k + 1]). */
  readonly offsets: Int32Array;
  readonly tensorIndex: Uint16Array;
  readonly flatIndex: Int32Array;
  /** What the score correlates with: the committed signal, or the values for keys without one. */
  readonly reference: Float32Array;
  /** Positions of key k in tensor t, Σ(y − ȳ)² and ȳ of that run, at [k · tensors.length + t]. */
  readonly runN: Int32Array;
  readonly runCyy: Float64Array;
  readonly runMean: Float64Array;
  /**
   * Every position again, ordered for one pass over a suspect that stays in cache: by tensor, then by
   * block of BLOCK entries of the tensor, then by key. A run is one key's positions in one block;
   * blockRunStart[j] is where run j starts and blockRunSlot[j] its k · tensors.length + t. The
   * reference is stored centred on its (key, tensor) run, so screening accumulates three sums.
   */
  readonly blockFlat: Int32Array;
  readonly blockCentred: Float32Array;
  readonly blockRunStart: Int32Array;
  readonly blockRunSlot: Int32Array;
  /** The marked values (for the sign error rate). */
  readonly values: Float32Array;
  /** 1 where key k carries a committed signal. */
  readonly committed: Uint8Array;
}

const shared = (bytes: number): SharedArrayBuffer => new SharedArrayBuffer(Math.max(8, bytes));

/**
 * Packs keys into a bank. Tensors are matched by name across keys and must agree in shape.
 * @throws Error naming a tensor whose shape differs between two keys.
 */
export function buildKeyBank(keys: readonly WatermarkKey[]): KeyBank {
  const tensors: KeyedTensor[] = [];
  const layers: string[] = [];
  const byName = new Map<string, number>();
  let total = 0;
  const maps = keys.map((k) => {
    total += k.values.length;
    return k.tensors.map((t, ti) => {
      let i = byName.get(t.name);
      if (i === undefined) {
        i = tensors.length;
        byName.set(t.name, i);
        tensors.push({ name: t.name, shape: [...t.shape] });
        layers.push(layerOfTensor(k, ti));
      } else if (tensors[i]!.shape.length !== t.shape.length || tensors[i]!.shape.some((d, j) => d !== t.shape[j])) {
        throw new Error(`Keys disagree on tensor '${t.name}': [${tensors[i]!.shape}] against [${t.shape}] in key '${k.id}'`);
      }
      return i;
    });
  });
  if (tensors.length > 65535) throw new Error(`A key bank holds at most 65535 tensors, got ${tensors.length}`);
  const nT = tensors.length;
  const offsets = new Int32Array(shared(4 * (keys.length + 1)), 0, keys.length + 1);
  const tensorIndex = new Uint16Array(shared(2 * total), 0, total);
  const flatIndex = new Int32Array(shared(4 * total), 0, total);
  const reference = new Float32Array(shared(4 * total), 0, total);
  const runN = new Int32Array(shared(4 * keys.length * nT), 0, keys.length * nT);
  const runCyy = new Float64Array(shared(8 * keys.length * nT), 0, keys.length * nT);
  const runMean = new Float64Array(shared(8 * keys.length * nT), 0, keys.length * nT);
  const values = new Float32Array(shared(4 * total), 0, total);
  const committed = new Uint8Array(shared(keys.length), 0, keys.length);
  let at = 0;
  keys.forEach((k, ki) => {
    offsets[ki] = at;
    committed[ki] = k.signal ? 1 : 0;
    const ref = k.signal ?? k.values;
    // Sums do not depend on order: positions go in memory order, so scoring reads each tensor forwards.
    const order = k.values.map((_, i) => i).sort((a, b) => maps[ki]![k.tensorIndex[a]!]! - maps[ki]![k.tensorIndex[b]!]! || k.flatIndex[a]! - k.flatIndex[b]!);
    for (const i of order) {
      tensorIndex[at] = maps[ki]![k.tensorIndex[i]!]!;
      flatIndex[at] = k.flatIndex[i]!;
      reference[at] = ref[i]!;
      values[at] = k.values[i]!;
      at++;
    }
    for (let p = offsets[ki]!; p < at; ) {
      let end = p;
      let sum = 0;
      while (end < at && tensorIndex[end] === tensorIndex[p]) sum += reference[end++]!;
      const mean = sum / (end - p);
      let cyy = 0;
      for (let q = p; q < end; q++) cyy += (reference[q]! - mean) ** 2;
      const slot = ki * nT + tensorIndex[p]!;
      runN[slot] = end - p;
      runCyy[slot] = cyy;
      runMean[slot] = mean;
      p = end;
    }
  });
  offsets[keys.length] = at;
  const keyOf = new Int32Array(total);
  for (let k = 0; k < keys.length; k++) keyOf.fill(k, offsets[k]!, offsets[k + 1]!);
  const blockOf = (p: number): number => Math.floor(flatIndex[p]! / BLOCK);
  const blocked = Int32Array.from({ length: total }, (_, i) => i).sort((a, b) =>
    tensorIndex[a]! - tensorIndex[b]! || blockOf(a) - blockOf(b) || keyOf[a]! - keyOf[b]! || flatIndex[a]! - flatIndex[b]!);
  const blockFlat = new Int32Array(shared(4 * total), 0, total);
  const blockCentred = new Float32Array(shared(4 * total), 0, total);
  const starts: number[] = [];
  const slots: number[] = [];
  blocked.forEach((p, i) => {
    const slot = keyOf[p]! * nT + tensorIndex[p]!;
    blockFlat[i] = flatIndex[p]!;
    blockCentred[i] = reference[p]! - runMean[slot]!;
    const prev = i > 0 ? blocked[i - 1]! : -1;
    if (prev < 0 || keyOf[prev]! * nT + tensorIndex[prev]! !== slot || blockOf(prev) !== blockOf(p)) {
      starts.push(i);
      slots.push(slot);
    }
  });
  starts.push(total);
  const blockRunStart = new Int32Array(shared(4 * starts.length), 0, starts.length);
  blockRunStart.set(starts);
  const blockRunSlot = new Int32Array(shared(4 * slots.length), 0, slots.length);
  blockRunSlot.set(slots);
  return {
    tensors, layers, ids: keys.map((k) => k.id), offsets, tensorIndex, flatIndex, reference, runN, runCyy, runMean, blockFlat, blockCentred, blockRunStart, blockRunSlot, values, committed,
  };
}

/**
 * Entries of a suspect tensor per block of the blocked order: one block (256 KB of float32) stays in
 * a core's L2 while every key's positions in it are gathered. In key order each gather was a cache
 * miss (a key's positions in fc1 of LeNet5 are ~450 floats apart); bench/verify-scale.ts measures it.
 */
const BLOCK = 65536;

/** The bank's tensors in `set` (already aligned onto the bank's tensor names). @throws Error for a missing tensor or a shape that differs. */
export function bankTensors(bank: KeyBank, set: ParamSet): (Float32Array | undefined)[] {
  const byName = new Map(set.tensors.map((t) => [t.name, t]));
  return bank.tensors.map((kt) => {
    const t = byName.get(kt.name);
    if (!t) return undefined;
    if (t.shape.length !== kt.shape.length || t.shape.some((d, i) => d !== kt.shape[i]) || t.data.length !== sizeOf(kt.shape)) {
      throw new Error(`Tensor '${kt.name}' has shape [${t.shape}] but the keys expect [${kt.shape}]`);
    }
    return t.data;
  });
}

export type BankScore =
  | { readonly key: number; readonly score: Score }
  | { readonly key: number; readonly error: string }
  /** Screened out: a lower bound of its p-value is already above the threshold, so it cannot match. */
  | { readonly key: number; readonly screened: { readonly r: number; readonly n: number; readonly log10pBound: number } };

export interface BankOptions extends Omit<CombineOptions, 'statistic'> {
  /** Keys scored exactly however weak: the strongest `detail` by the screening bound (default 10). */
  readonly detail?: number;
  /** Score only these keys (indices into the bank). */
  readonly only?: readonly number[];
}

/** Exact score of key k (the single-key arithmetic, per-tensor sums). */
function exactScore(bank: KeyBank, data: readonly (Float32Array | undefined)[], k: number, opts: Omit<CombineOptions, 'statistic'>): Score | { error: string } {
  const sums: GroupSums[] = bank.tensors.map(emptySums);
  let finite = true;
  let signErrors = 0;
  const from = bank.offsets[k]!;
  const to = bank.offsets[k + 1]!;
  for (let p = from; p < to; p++) {
    const t = bank.tensorIndex[p]!;
    const d = data[t];
    if (!d) return { error: `the aligned suspect has no tensor '${bank.tensors[t]!.name}'` };
    const x = d[bank.flatIndex[p]!]!;
    if (!Number.isFinite(x)) {
      finite = false;
      continue;
    }
    if (x > 0 !== bank.values[p]! > 0) signErrors++;
    addToSums(sums[t]!, x, bank.reference[p]!);
  }
  try {
    return scoreFromSums(sums, bank.layers, to > from ? signErrors / (to - from) : 1, finite, { ...opts, statistic: bank.committed[k] ? 'signal' : 'pearson' });
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * Per (key, tensor) slot: Σ(x − x₀), Σ(x − x₀)² and Σ(x − x₀)(y − ȳ), with x₀ the tensor's first
 * entry (a shift that keeps the variance free of cancellation; the co-moment needs none, y is
 * centred). All keys: one pass in the blocked order. A few keys (`only`): their own runs, in key order.
 */
function screeningSums(bank: KeyBank, data: readonly (Float32Array | undefined)[], only?: readonly number[]): Float64Array {
  const nT = bank.tensors.length;
  const acc = new Float64Array((bank.offsets.length - 1) * nT * 3);
  const shift = data.map((d) => (d && d.length > 0 ? d[0]! : 0));
  if (only) {
    const { flatIndex, tensorIndex, reference, runMean } = bank;
    for (const k of only) {
      for (let p = bank.offsets[k]!; p < bank.offsets[k + 1]!; ) {
        const t = tensorIndex[p]!;
        const slot = k * nT + t;
        const end = p + bank.runN[slot]!;
        const d = data[t];
        if (d) {
          const x0 = shift[t]!;
          const ym = runMean[slot]!;
          let sx = 0, sxx = 0, sxy = 0;
          for (let q = p; q < end; q++) {
            const dx = d[flatIndex[q]!]! - x0;
            sx += dx;
            sxx += dx * dx;
            sxy += dx * Math.fround(reference[q]! - ym); // rounded as blockCentred stores it
          }
          acc[slot * 3] = sx;
          acc[slot * 3 + 1] = sxx;
          acc[slot * 3 + 2] = sxy;
        }
        p = end;
      }
    }
    return acc;
  }
  const { blockFlat, blockCentred, blockRunStart, blockRunSlot } = bank;
  for (let j = 0; j < blockRunSlot.length; j++) {
    const slot = blockRunSlot[j]!;
    const t = slot % nT;
    const d = data[t];
    if (!d) continue;
    const x0 = shift[t]!;
    let sx = 0, sxx = 0, sxy = 0;
    for (let q = blockRunStart[j]!; q < blockRunStart[j + 1]!; q++) {
      const dx = d[blockFlat[q]!]! - x0;
      sx += dx;
      sxx += dx * dx;
      sxy += dx * blockCentred[q]!;
    }
    acc[slot * 3]! += sx;
    acc[slot * 3 + 1]! += sxx;
    acc[slot * 3 + 2]! += sxy;
  }
  return acc;
}

/**
 * Scores the bank's keys against a suspect aligned onto its tensors. One pass per key gathers the
 * per-tensor sums and bounds the key's combined p-value from below with the normal tail (cheap; Student's
 * tail is heavier); keys whose bound is still above the false-positive rate cannot match and are
 * reported as screened. The rest, and the `detail` strongest, get the exact score of scoreAgainstKey.
 */
export function scoreBank(bank: KeyBank, set: ParamSet, opts: BankOptions): BankScore[] {
  const data = bankTensors(bank, set);
  const nT = bank.tensors.length;
  const nKeys = bank.offsets.length - 1;
  const layerNames = [...new Set(bank.layers)];
  const layerOf = Int32Array.from(bank.layers.map((l) => layerNames.indexOf(l)));
  const nL = layerNames.length;
  const lNum = new Float64Array(nL);
  const lDx = new Float64Array(nL);
  const lDy = new Float64Array(nL);
  const lN = new Float64Array(nL);
  const lUsed = new Float64Array(nL);
  const threshold = Math.log10(opts.fpr);
  const comparisonsLn = Math.log(opts.comparisons);
  const keys = opts.only ?? Array.from({ length: nKeys }, (_, i) => i);
  const acc = screeningSums(bank, data, opts.only && opts.only.length * 8 < nKeys ? opts.only : undefined);
  // Per entry of `keys`: the bound (−∞: take the exact path), and the screened figures.
  const bounds = new Float64Array(keys.length);
  const screenedR = new Float64Array(keys.length);
  const screenedN = new Float64Array(keys.length);
  const lnBound = (num: number, dx: number, dy: number, nu: number): number => {
    const r = dx > 0 && dy > 0 ? Math.max(-1, Math.min(1, num / Math.sqrt(dx * dy))) : 0;
    return lnTailLowerBound(tOf(r, nu, opts.inflation));
  };
  const combinationOf = [effectiveCombination(opts.combination, 'pearson'), effectiveCombination(opts.combination, 'signal')];
  for (let ki = 0; ki < keys.length; ki++) {
    const k = keys[ki]!;
    let missing = false;
    let finite = true;
    const committed = bank.committed[k] === 1;
    lNum.fill(0);
    lDx.fill(0);
    lDy.fill(0);
    lN.fill(0);
    lUsed.fill(0);
    let pNum = 0;
    let pDx = 0;
    let pDy = 0;
    let pN = 0;
    let pUsed = 0;
    for (let t = 0; t < nT; t++) {
      const slot = k * nT + t;
      const n = bank.runN[slot]!;
      if (n === 0) continue;
      if (!data[t]) {
        missing = true;
        break;
      }
      const sx = acc[slot * 3]!;
      const cxx = acc[slot * 3 + 1]! - (sx * sx) / n;
      const cxy = acc[slot * 3 + 2]!;
      if (!Number.isFinite(cxx) || !Number.isFinite(cxy)) {
        finite = false;
        break;
      }
      if (n < MIN_GROUP_POSITIONS) continue;
      const cyy = bank.runCyy[slot]!;
      const sdx = cxx > 0 ? Math.sqrt(cxx / n) : 0;
      const sdy = committed ? 1 : cyy > 0 ? Math.sqrt(cyy / n) : 0;
      if (sdx > 0 && sdy > 0) {
        const l = layerOf[t]!;
        const num = cxy / (sdx * sdy);
        const dy = committed ? cyy : n;
        lNum[l]! += num;
        lDx[l]! += n;
        lDy[l]! += dy;
        lN[l]! += n;
        lUsed[l]!++;
        pNum += num;
        pDx += n;
        pDy += dy;
        pN += n;
        pUsed++;
      }
    }
    if (missing || !finite || pN - pUsed - 1 < 1) {
      // Rare cases (missing tensors, NaN, too few positions) take the exact path, which says why.
      bounds[ki] = -Infinity;
      continue;
    }
    const lnPooled = lnBound(pNum, pDx, pDy, pN - pUsed - 1);
    let lnMin = lnPooled;
    let lnSum = 0;
    let tests = 0;
    for (let l = 0; l < nL; l++) {
      const nu = lN[l]! - lUsed[l]! - 1;
      if (lUsed[l]! === 0 || nu < 1) continue;
      const b = lnBound(lNum[l]!, lDx[l]!, lDy[l]!, nu);
      lnMin = Math.min(lnMin, b);
      lnSum += b;
      tests++;
    }
    let lnP: number;
    const combination = combinationOf[committed ? 1 : 0];
    if (combination === 'pooled' || tests <= 1) lnP = lnPooled;
    else if (combination === 'fisher') lnP = lnChiSquareEvenTail(-2 * lnSum, tests);
    else lnP = lnMin + Math.log(tests + 1);
    bounds[ki] = (lnP + comparisonsLn) / Math.LN10;
    screenedR[ki] = pDx > 0 && pDy > 0 ? Math.max(-1, Math.min(1, pNum / Math.sqrt(pDx * pDy))) : 0;
    screenedN[ki] = pN;
  }
  // Exact scores where a match is possible, and for the strongest few.
  const exact = strongest(bounds, opts.detail ?? 10);
  for (let ki = 0; ki < keys.length; ki++) if (bounds[ki]! < threshold + 1) exact.add(ki);
  return keys.map((k, ki): BankScore => {
    if (exact.has(ki)) {
      const e = exactScore(bank, data, k, opts);
      return 'error' in e ? { key: k, error: e.error } : { key: k, score: e };
    }
    return { key: k, screened: { r: screenedR[ki]!, n: screenedN[ki]!, log10pBound: Math.min(0, bounds[ki]!) } };
  });
}

/** Indices of the `count` smallest values (ties: the earlier index), without sorting them all. */
function strongest(values: Float64Array, count: number): Set<number> {
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (top.length === count && values[i]! >= values[top[top.length - 1]!]!) continue;
    let at = top.length;
    while (at > 0 && values[top[at - 1]!]! > values[i]!) at--;
    top.splice(at, 0, i);
    if (top.length > count) top.pop();
  }
  return new Set(top);
}
