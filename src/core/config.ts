/**
 * Numbers that matter, in one place, each with why. Where a value was chosen by measurement, the
 * measurement is named (see docs/ and the issue notes).
 */
export const defaults = {
  key: {
    /** Positions per key. Detection power grows with √n: with n = 1,024 a residual r = 0.15 is still p ≈ 1e-6 (FINDINGS §2). */
    n: 1024,
    /**
     * Scale-matched values are drawn N(0, s²) with s the tensor's own weight std, so marked weights do
     * not stand out in a histogram (values of ±0.1 in LeNet5 are several times its weight scale).
     */
    valueKind: 'scale-matched' as const,
  },
  score: {
    /** Probability that an unrelated model is declared a match; courts want it tiny. */
    fpr: 1e-6,
  },
  training: {
    batchSize: 100,
    /** SGD with momentum and weight decay, cosine-decayed: LeNet5 reaches ≥ 99% on MNIST within 5 epochs. */
    lr: 0.05,
    momentum: 0.9,
    weightDecay: 5e-4,
    epochs: 5,
  },
  delve: {
    /** Replicas per step (the paper's R); each costs one more forward/backward pass. */
    replicas: 4,
    /** Noise std on the keyed entries of a replica, relative to the RMS of that tensor's key values. */
    sigma: 1,
    /** Weight of the replica (ascent) term against the locked model's descent. */
    lambda: 0.1,
    /** A replica whose loss exceeds the model's by this much stops pushing (Infinity: the paper's unbounded ascent). */
    margin: Number.POSITIVE_INFINITY,
  },
  release: {
    /** A licensee copy: one short pass over 10k samples at a low lr heals the accuracy a fresh key costs. */
    strategy: 'naive' as 'naive' | 'delve',
    epochs: 1,
    limit: 10_000,
    lr: 0.01,
  },
} as const;

export type Strategy = 'none' | 'naive' | 'delve';
export const strategies: readonly Strategy[] = ['none', 'naive', 'delve'];
