/**
 * Committed keys (version 2), in two steps:
 * 1. **plan** — before training, from the commitment's secret seed: n positions allocated layer by
 *    layer so that every parameterised layer, the output layer included, carries enough of them to
 *    decide alone, and a standard normal signal z at each;
 * 2. **materialise** — when the values are written into a model: each value is the z-quantile of the
 *    weights its tensor holds at that moment, value = Q_tensor(Φ(z)), so marked weights follow their
 *    layer's own distribution (a per-layer test cannot single them out) while the score tests z,
 *    whose null distribution is exact.
 * Values are a monotone function of z within each tensor; that, and the plan, is what a derivation
 * check verifies (the scale of each tensor is free: it changes neither the score nor the positions).
 */
import type { ParamSet } from './paramSet.js';
import { sizeOf } from './paramSet.js';
import { SeededRng } from './rng.js';
import { normalCdf } from './stats.js';
import { distinctIndices, takenPositions } from './keygen.js';
import { layerOfName } from './keyLayers.js';
import { commitmentDigest, commitmentSeed, type KeyCommitment } from './commitment.js';
import type { KeyedTensor, WatermarkKey } from './watermarkKey.js';
import { defaults } from './config.js';

export interface AllocationPolicy {
  /** Every parameterised layer gets at least this many positions… */
  readonly minPerLayer: number;
  /** …but never more than this fraction of its parameters (small layers: conv1 of LeNet5 has 520). */
  readonly maxFraction: number;
  /** How the positions beyond the floors are shared between layers: by parameter count, or by its square root. */
  readonly share: 'size' | 'sqrt';
}

export interface PlanTarget {
  readonly name: string;
  readonly shape: readonly number[];
  readonly layer: string;
}

export interface KeyPlan {
  readonly tensors: readonly KeyedTensor[];
  readonly layers: readonly string[];
  readonly tensorIndex: readonly number[];
  readonly flatIndex: readonly number[];
  readonly signal: readonly number[];
}

/** Every tensor of a model, its layer read off its name. */
export function planTargets(tensors: readonly { name: string; shape: readonly number[] }[]): PlanTarget[] {
  return tensors.map((t) => ({ name: t.name, shape: [...t.shape], layer: layerOfName(t.name) }));
}

/** The policy as recorded in a commitment. */
export function policyRecord(p: AllocationPolicy): Record<string, string | number> {
  return { name: 'layer-floor', minPerLayer: p.minPerLayer, maxFraction: p.maxFraction, share: p.share };
}

/** @throws Error when the record is not a layer-floor policy. */
export function policyFromRecord(r: Readonly<Record<string, string | number>>): AllocationPolicy {
  if (r.name !== 'layer-floor' || typeof r.minPerLayer !== 'number' || typeof r.maxFraction !== 'number' || (r.share !== 'size' && r.share !== 'sqrt')) {
    throw new Error(`Unknown allocation policy ${JSON.stringify(r)}; supported: layer-floor {minPerLayer, maxFraction, share: size|sqrt}`);
  }
  return { minPerLayer: r.minPerLayer, maxFraction: r.maxFraction, share: r.share };
}

/** Largest-remainder split of `n` by `weights`, each part capped by `caps`. */
function splitCapped(n: number, weights: readonly number[], caps: readonly number[]): number[] {
  const out = weights.map(() => 0);
  let left = n;
  for (let round = 0; left > 0 && round < 64; round++) {
    const open = weights.map((w, i) => (out[i]! < caps[i]! && w > 0 ? i : -1)).filter((i) => i >= 0);
    if (open.length === 0) break;
    const total = open.reduce((a, i) => a + weights[i]!, 0);
    const quotas = open.map((i) => ({ i, q: (weights[i]! * left) / total }));
    let given = 0;
    for (const { i, q } of quotas) {
      const g = Math.min(Math.floor(q), caps[i]! - out[i]!);
      out[i]! += g;
      given += g;
    }
    left -= given;
    for (const { i } of quotas.sort((a, b) => b.q - Math.floor(b.q) - (a.q - Math.floor(a.q)) || a.i - b.i)) {
      if (left === 0) break;
      if (out[i]! < caps[i]!) {
        out[i]!++;
        left--;
      }
    }
  }
  return out;
}

/** Most positions each layer may hold (maxFraction of its size, at least 3), layers in first-seen order. */
function layerCaps(targets: readonly PlanTarget[], policy: AllocationPolicy): number[] {
  const layerNames = [...new Set(targets.map((t) => t.layer))];
  return layerNames.map((l) => {
    const size = targets.reduce((a, t) => a + (t.layer === l ? sizeOf(t.shape) : 0), 0);
    return Math.max(Math.min(size, 3), Math.floor(policy.maxFraction * size));
  });
}

/** The largest key the policy fits into these tensors. */
export function keyCapacity(targets: readonly PlanTarget[], policy: AllocationPolicy): number {
  return layerCaps(targets, policy).reduce((a, b) => a + b, 0);
}

/** A new key's size when none is asked: defaults.key.n, at most maxShare of the weights and what the policy fits. */
export function defaultKeySize(targets: readonly PlanTarget[], policy: AllocationPolicy, n: number, maxShare: number): number {
  const weights = targets.reduce((a, t) => a + sizeOf(t.shape), 0);
  return Math.max(1, Math.min(n, keyCapacity(targets, policy), Math.ceil(maxShare * weights)));
}

/**
 * Positions per tensor: per layer, a floor of min(minPerLayer, maxFraction × size); the rest shared
 * by size or √size (never past maxFraction of a layer); within a layer, in proportion to tensor size.
 * @throws Error when n does not fit under the caps.
 */
export function allocateByLayer(targets: readonly PlanTarget[], n: number, policy: AllocationPolicy): number[] {
  const layerNames = [...new Set(targets.map((t) => t.layer))];
  const sizes = targets.map((t) => sizeOf(t.shape));
  const layerSize = layerNames.map((l) => targets.reduce((a, t, i) => a + (t.layer === l ? sizes[i]! : 0), 0));
  const caps = layerCaps(targets, policy);
  const capTotal = caps.reduce((a, b) => a + b, 0);
  if (n > capTotal) throw new Error(`A key of ${n} positions does not fit: at most ${capTotal} (${policy.maxFraction} of each layer)`);
  const floors = caps.map((c) => Math.min(policy.minPerLayer, c));
  const floorTotal = floors.reduce((a, b) => a + b, 0);
  let perLayer: number[];
  if (floorTotal >= n) {
    perLayer = splitCapped(n, floors, floors);
  } else {
    const weights = layerSize.map((s) => (policy.share === 'sqrt' ? Math.sqrt(s) : s));
    const extra = splitCapped(n - floorTotal, weights, caps.map((c, i) => c - floors[i]!));
    perLayer = floors.map((f, i) => f + extra[i]!);
  }
  const out = sizes.map(() => 0);
  layerNames.forEach((l, li) => {
    const members = targets.map((t, i) => (t.layer === l ? i : -1)).filter((i) => i >= 0);
    const within = splitCapped(perLayer[li]!, members.map((i) => sizes[i]!), members.map((i) => sizes[i]!));
    members.forEach((i, k) => (out[i] = within[k]!));
  });
  return out;
}

/**
 * Draws the plan from a seed: positions per allocateByLayer (never one of `avoid`'s), shuffled so the
 * order of positions reveals nothing, then a standard normal signal at each. Deterministic in the seed.
 */
export function planKey(targets: readonly PlanTarget[], opts: { seed: Uint8Array | string; n: number; policy: AllocationPolicy; avoid?: readonly WatermarkKey[] }): KeyPlan {
  if (!Number.isInteger(opts.n) || opts.n < 2) throw new Error(`A key needs an integer n ≥ 2 positions, got ${opts.n}`);
  const rng = new SeededRng(opts.seed, 'weightmark/key-plan/v2');
  const alloc = allocateByLayer(targets, opts.n, opts.policy);
  const ti: number[] = [];
  const fi: number[] = [];
  targets.forEach((t, k) => {
    for (const idx of distinctIndices(rng, sizeOf(t.shape), alloc[k]!, takenPositions(opts.avoid, t.name))) {
      ti.push(k);
      fi.push(idx);
    }
  });
  const order = ti.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return {
    tensors: targets.map((t) => ({ name: t.name, shape: [...t.shape] })),
    layers: targets.map((t) => t.layer),
    tensorIndex: order.map((i) => ti[i]!),
    flatIndex: order.map((i) => fi[i]!),
    signal: order.map(() => rng.nextGaussian()),
  };
}

/** The plan a commitment yields for a model's tensors. */
export function planFromCommitment(c: KeyCommitment, tensors: readonly { name: string; shape: readonly number[] }[], avoid?: readonly WatermarkKey[]): KeyPlan {
  return planKey(planTargets(tensors), { seed: commitmentSeed(c), n: c.n, policy: policyFromRecord(c.allocation), ...(avoid ? { avoid } : {}) });
}

/**
 * The key's values for the model as it is now: per tensor, the weights not under this key sorted,
 * value = their quantile at Φ(z) (linear interpolation). A tensor with no spread (all equal) borrows
 * the spread of its layer's largest tensor: value = mean + std·z.
 * @throws Error when the model lacks a planned tensor or has it in another shape.
 */
export function materializeKey(plan: KeyPlan, set: ParamSet, opts: { id: string; arch?: string; commitment?: string }): WatermarkKey {
  const byName = new Map(set.tensors.map((t) => [t.name, t]));
  const data = plan.tensors.map((kt) => {
    const t = byName.get(kt.name);
    if (!t) throw new Error(`The model has no tensor '${kt.name}' that the key plan marks`);
    if (t.shape.length !== kt.shape.length || t.shape.some((d, i) => d !== kt.shape[i])) throw new Error(`Tensor '${kt.name}' has shape [${t.shape}], the plan expects [${kt.shape}]`);
    return t.data;
  });
  const keyed = plan.tensors.map(() => new Set<number>());
  plan.tensorIndex.forEach((t, i) => keyed[t]!.add(plan.flatIndex[i]!));
  const sorted = data.map((d, t) => {
    const free: number[] = [];
    for (let i = 0; i < d.length; i++) if (!keyed[t]!.has(i)) free.push(d[i]!);
    return Float64Array.from(free).sort();
  });
  const spreadOf = (t: number): { mean: number; std: number } => {
    const s = sorted[t]!;
    const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
    return { mean, std: Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, s.length)) };
  };
  const fallback = plan.tensors.map((_, t) => {
    if (sorted[t]!.length >= 2 && sorted[t]![0] !== sorted[t]![sorted[t]!.length - 1]) return undefined;
    const siblings = plan.tensors.map((_, u) => u).filter((u) => plan.layers[u] === plan.layers[t] && sorted[u]!.length >= 2);
    const big = siblings.sort((a, b) => sorted[b]!.length - sorted[a]!.length)[0];
    const own = spreadOf(t);
    return { mean: sorted[t]!.length ? own.mean : 0, std: big !== undefined && spreadOf(big).std > 0 ? spreadOf(big).std : defaults.key.fallbackStd };
  });
  const values = plan.signal.map((z, i) => {
    const t = plan.tensorIndex[i]!;
    const fb = fallback[t];
    if (fb) return Math.fround(fb.mean + fb.std * z);
    const s = sorted[t]!;
    const pos = normalCdf(z) * (s.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(s.length - 1, lo + 1);
    return Math.fround(s[lo]! + (pos - lo) * (s[hi]! - s[lo]!));
  });
  return {
    format: 'weightmark-key',
    version: 2,
    id: opts.id,
    ...(opts.arch !== undefined ? { arch: opts.arch } : {}),
    valueKind: 'distribution-matched',
    tensors: plan.tensors.map((t) => ({ name: t.name, shape: [...t.shape] })),
    layers: [...plan.layers],
    tensorIndex: [...plan.tensorIndex],
    flatIndex: [...plan.flatIndex],
    values,
    signal: [...plan.signal],
    ...(opts.commitment !== undefined ? { commitment: opts.commitment } : {}),
  };
}

export type DerivationCheck = { ok: true } | { ok: false; reason: string };

/**
 * Does `key` follow from `commitment`? Same digest, same positions and signal as the commitment's plan
 * for the key's tensors, and values that rise with the signal within each tensor.
 */
export function checkDerivation(key: WatermarkKey, commitment: KeyCommitment, avoid?: readonly WatermarkKey[]): DerivationCheck {
  const digest = commitmentDigest(commitment);
  if (key.commitment !== digest) return { ok: false, reason: `the key names commitment ${key.commitment ?? '(none)'}, the commitment hashes to ${digest}` };
  if (!key.signal) return { ok: false, reason: 'the key carries no committed signal' };
  if (key.values.length !== commitment.n) return { ok: false, reason: `the commitment is for ${commitment.n} positions, the key has ${key.values.length}` };
  let plan: KeyPlan;
  try {
    plan = planFromCommitment(commitment, key.tensors, avoid);
  } catch (e) {
    return { ok: false, reason: `the commitment's plan cannot be drawn for the key's tensors: ${(e as Error).message}` };
  }
  for (let i = 0; i < plan.signal.length; i++) {
    if (plan.tensorIndex[i] !== key.tensorIndex[i] || plan.flatIndex[i] !== key.flatIndex[i]) return { ok: false, reason: `position ${i} differs from the commitment's plan` };
    if (plan.signal[i] !== key.signal[i]) return { ok: false, reason: `signal ${i} differs from the commitment's plan` };
  }
  const byTensor = new Map<number, number[]>();
  key.tensorIndex.forEach((t, i) => {
    let l = byTensor.get(t);
    if (!l) byTensor.set(t, (l = []));
    l.push(i);
  });
  for (const [t, idx] of byTensor) {
    idx.sort((a, b) => key.signal![a]! - key.signal![b]!);
    for (let k = 1; k < idx.length; k++) {
      if (key.values[idx[k]!]! < key.values[idx[k - 1]!]!) return { ok: false, reason: `values of '${key.tensors[t]!.name}' do not rise with the committed signal` };
    }
  }
  return { ok: true };
}
