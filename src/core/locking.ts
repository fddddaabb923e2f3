import type { WatermarkKey } from './watermarkKey.js';

/**
 * The locked parameters of a key, resolved against a model's tensor order: for each keyed tensor, its
 * index in the model, the flat indices held fixed and the values held there.
 */
export interface Lock {
  readonly tensor: number;
  readonly indices: Int32Array;
  readonly values: Float32Array;
  /** RMS of the values: the scale of the delve replicas' noise in this tensor. */
  readonly rms: number;
}

/** @throws Error when a keyed tensor is missing from the model or its shape differs. */
export function resolveLocks(key: WatermarkKey, tensors: readonly { name: string; shape: readonly number[] }[]): Lock[] {
  return key.tensors.flatMap((kt, k) => {
    const t = tensors.findIndex((x) => x.name === kt.name);
    if (t < 0) throw new Error(`The key marks tensor '${kt.name}', which the model does not have (it has ${tensors.map((x) => x.name).join(', ')})`);
    const shape = tensors[t]!.shape;
    if (shape.length !== kt.shape.length || shape.some((d, i) => d !== kt.shape[i])) {
      throw new Error(`The key expects '${kt.name}' of shape [${kt.shape.join(', ')}], the model has [${shape.join(', ')}]`);
    }
    const idx: number[] = [];
    const vals: number[] = [];
    for (let i = 0; i < key.values.length; i++) {
      if (key.tensorIndex[i] === k) {
        idx.push(key.flatIndex[i]!);
        vals.push(key.values[i]!);
      }
    }
    if (idx.length === 0) return [];
    const rms = Math.sqrt(vals.reduce((a, v) => a + v * v, 0) / vals.length);
    return [{ tensor: t, indices: Int32Array.from(idx), values: Float32Array.from(vals), rms }];
  });
}

/** Merges the locks of several keys (the owner's and a licensee's); a position locked twice must agree. */
export function mergeLocks(...groups: (readonly Lock[])[]): Lock[] {
  const byTensor = new Map<number, Map<number, number>>();
  for (const locks of groups) {
    for (const l of locks) {
      const m = byTensor.get(l.tensor) ?? new Map<number, number>();
      l.indices.forEach((idx, i) => {
        const prev = m.get(idx);
        if (prev !== undefined && prev !== l.values[i]) throw new Error(`Two keys lock tensor #${l.tensor} index ${idx} to different values`);
        m.set(idx, l.values[i]!);
      });
      byTensor.set(l.tensor, m);
    }
  }
  return [...byTensor.entries()].map(([tensor, m]) => {
    const entries = [...m.entries()].sort((a, b) => a[0] - b[0]);
    const values = Float32Array.from(entries.map((e) => e[1]));
    const rms = Math.sqrt(values.reduce((a, v) => a + v * v, 0) / values.length);
    return { tensor, indices: Int32Array.from(entries.map((e) => e[0])), values, rms };
  });
}

/** Writes the locked values into the parameters (in place). Exact: a plain float32 store. */
export function applyLocks(params: Float32Array[], locks: readonly Lock[]): void {
  for (const l of locks) {
    const p = params[l.tensor]!;
    for (let i = 0; i < l.indices.length; i++) p[l.indices[i]!] = l.values[i]!;
  }
}

/** Zeroes the locked entries of a gradient-shaped list (in place): the projection onto the unlocked parameters. */
export function projectOutLocked(grads: Float32Array[], locks: readonly Lock[]): void {
  for (const l of locks) {
    const g = grads[l.tensor]!;
    for (let i = 0; i < l.indices.length; i++) g[l.indices[i]!] = 0;
  }
}

export interface SgdOptions {
  readonly momentum: number;
  readonly weightDecay: number;
  /** Indices of tensors held entirely fixed (no gradient step, no weight decay): frozen layers. */
  readonly frozen?: readonly number[];
}

/**
 * SGD with momentum and (coupled, L2) weight decay, PyTorch's formulation: v ← μv + (g + wd·w),
 * w ← w − lr·v. Locked entries are then written back, so they stay bit-exact under momentum and weight
 * decay (the paper's reference code lets weight decay shrink them); their velocity is kept at zero.
 */
export class LockedSgd {
  private readonly velocity: Float32Array[];
  private locks: readonly Lock[];

  constructor(
    readonly params: Float32Array[],
    locks: readonly Lock[],
    private readonly opts: SgdOptions,
  ) {
    this.locks = locks;
    this.velocity = params.map((p) => new Float32Array(p.length));
    applyLocks(params, locks);
  }

  /** Locks more entries from now on (a key embedded part-way through training); their velocity is cleared. */
  addLocks(more: readonly Lock[]): void {
    this.locks = mergeLocks([...this.locks], more);
    projectOutLocked(this.velocity, more);
    applyLocks(this.params, this.locks);
  }

  /**
   * Replaces every lock (a committed key's values re-drawn as its layer drifts): positions stay, values
   * move; velocity at newly locked entries is cleared.
   */
  setLocks(locks: readonly Lock[]): void {
    this.locks = locks;
    projectOutLocked(this.velocity, locks);
    applyLocks(this.params, locks);
  }

  get locked(): readonly Lock[] {
    return this.locks;
  }

  /** The momentum buffers, read-only views (a checkpoint saves them). */
  get velocities(): readonly Float32Array[] {
    return this.velocity;
  }

  /** Momentum from a checkpoint, so a resumed run steps as the uninterrupted one would. */
  restoreVelocities(v: readonly Float32Array[]): void {
    if (v.length !== this.velocity.length || v.some((t, i) => t.length !== this.velocity[i]!.length)) throw new Error('restoreVelocities: the buffers do not match the parameters');
    v.forEach((t, i) => this.velocity[i]!.set(t));
  }

  step(grads: readonly Float32Array[], lr: number): void {
    const { momentum, weightDecay } = this.opts;
    const frozen = new Set(this.opts.frozen ?? []);
    for (let t = 0; t < this.params.length; t++) {
      if (frozen.has(t)) continue;
      const w = this.params[t]!;
      const g = grads[t]!;
      const v = this.velocity[t]!;
      for (let i = 0; i < w.length; i++) {
        const vi = momentum * v[i]! + g[i]! + weightDecay * w[i]!;
        v[i] = vi;
        w[i] = w[i]! - lr * vi;
      }
    }
    projectOutLocked(this.velocity, this.locks);
    applyLocks(this.params, this.locks);
  }
}

/** A fast seeded Gaussian source for replica noise (reproducible, not secret). */
export function gaussianSource(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * A delve replica (the paper's W + ΔW): a copy of the parameters whose locked entries get Gaussian
 * noise of std sigma × (RMS of that tensor's key values). Only keyed tensors are copied; the others are
 * shared with the model, read-only.
 */
export function makeReplica(params: readonly Float32Array[], locks: readonly Lock[], sigma: number, gauss: () => number): Float32Array[] {
  const replica = [...params];
  for (const l of locks) {
    const p = new Float32Array(params[l.tensor]!);
    const s = sigma * l.rms;
    for (let i = 0; i < l.indices.length; i++) p[l.indices[i]!] = l.values[i]! + s * gauss();
    replica[l.tensor] = p;
  }
  return replica;
}

export type DelveDirection = 'ascent' | 'descent';

/**
 * The delve update direction, projected onto the unlocked parameters:
 * - 'ascent' (the paper's text, §3: the replicas' loss must RISE while the locked model's falls):
 *   G = ∇L(W) − (λ/R) Σ_r ∇L(W + ΔW_r): descending along G raises the loss of any model whose keyed
 *   weights moved, carving a steep valley around the key values;
 * - 'descent' (the replicas' loss is minimised too, as in noise-injection training): G = ∇L(W) +
 *   (λ/R) Σ_r ∇L(W + ΔW_r): the loss becomes flat in the keyed weights, so an attacker's gradient on
 *   them is small and fine-tuning moves them less.
 */
export function delveDirection(
  modelGrads: readonly Float32Array[], replicaGrads: readonly (readonly Float32Array[])[], lambda: number, locks: readonly Lock[], direction: DelveDirection = 'ascent',
): Float32Array[] {
  const R = replicaGrads.length;
  const out = modelGrads.map((g) => new Float32Array(g));
  if (R > 0 && lambda !== 0) {
    const c = ((direction === 'ascent' ? 1 : -1) * lambda) / R;
    for (const rg of replicaGrads) {
      for (let t = 0; t < out.length; t++) {
        const o = out[t]!;
        const g = rg[t]!;
        for (let i = 0; i < o.length; i++) o[i] = o[i]! - c * g[i]!;
      }
    }
  }
  projectOutLocked(out, locks);
  return out;
}
