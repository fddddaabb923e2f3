/**
 * Numbers that matter, in one place, each with why. Where a value was chosen by measurement, the
 * measurement is named (see docs/ and the issue notes).
 */
export const defaults = {
  key: {
    /** Positions per key. Detection power grows with √n: with n = 1,024 a residual r = 0.15 is still p ≈ 1e-6 (FINDINGS §2). */
    n: 1024,
    /**
     * ...but never more than this share of the keyable weights. LeNet5 carries an owner and a licensee
     * key of 1,024 positions (0.24% of its weights each) at unchanged accuracy; a licensor's 9,690-weight
     * network lost 4–5 points of MNIST accuracy with two such keys (21% of its weights) and still 0.5–1
     * point with 1% each (docs/experiments/byo-model.md). 0.5% leaves every registry network at 1,024
     * and a 38k-weight network at 189 positions (p < 1e-10 still at r = 0.45).
     */
    maxShare: 0.005,
    /**
     * Scale-matched values are drawn N(0, s²) with s the tensor's own weight std, so marked weights do
     * not stand out in a histogram (values of ±0.1 in LeNet5 are several times its weight scale).
     */
    valueKind: 'scale-matched' as const,
    /**
     * Every layer gets min(128, 20% of its size) positions, the rest by √size. Measured against a floor
     * of 64 shared by size and against the paper's proportional spread (docs/experiments/embedding.md):
     * same accuracy, every layer keeps evidence after low-rank compression and head re-training, and
     * SVD followed by fine-tuning still reads p ≈ 1e-16 where the others fall to 1e-7 or lose the mark.
     */
    allocation: { minPerLayer: 128, maxFraction: 0.2, share: 'sqrt' } as { minPerLayer: number; maxFraction: number; share: 'size' | 'sqrt' },
    /**
     * Fraction of a training run after which the committed key's values are first drawn from the weights
     * and locked. Drawn at 0 they are still the initialisation's spread and stand out (KS p 7e-7 in fc1);
     * at 0.25 or 0.5 they blend in except in fc1, which keeps drifting (hence redrawAt), and accuracy is unchanged.
     */
    embedAt: 0.25,
    /**
     * Fractions of the run at which the values are drawn again from the same signal, so they follow
     * their layer as it keeps growing. Drawn once at 0.25, fc1's marked weights stood out at the end
     * (KS p 0.0005–0.05 over 3 seeds; 0.005 on the committed default); re-drawn, every layer's KS p is
     * ≥ 0.066 on every seed, at the same accuracy and robustness (docs/experiments/embedding.md).
     */
    redrawAt: [0.5, 0.75, 0.9] as readonly number[],
    /** Spread given to a tensor whose weights are all equal when its values are drawn (no layer sibling to borrow from). */
    fallbackStd: 0.05,
  },
  score: {
    /** Probability that an unrelated model is declared a match; courts want it tiny. */
    fpr: 1e-6,
    /**
     * Fisher's method over the per-layer tests (committed keys; other keys take the Bonferroni minimum,
     * score.ts). On the 123 attacked models of docs/experiments/embedding.md that kept ≥ 95% accuracy it
     * was never weaker than the minimum, missed 3 where the minimum missed 6 and the pooled test 16; the null
     * study (docs/statistics.md) checks its calibration through the whole verification path.
     */
    combination: 'fisher' as 'min' | 'fisher' | 'pooled',
    /**
     * Variance inflation of t through the invariant re-alignment when a model is aligned onto itself (no
     * anchor); t is divided by its square root. Covers the 19% measured for uploaded keys' Pearson
     * statistic. Anchored references need none: the null study (docs/statistics.md) measured variance
     * 0.98–1.01 over 50,000 tests of fresh keys.
     */
    invariantInflation: 1.25,
  },
  training: {
    /**
     * naive, by measurement: on full MNIST (LeNet5, 4 epochs, same init and key) delve at λ = 0.1 left
     * the mark no harder to erase — r after 3 epochs of fine-tuning at lr 0.1 was 0.48 (delve) against
     * 0.52 (naive), after noise then fine-tuning 0.90 against 0.90, after Fashion-MNIST fine-tuning 0.96
     * against 0.95 — at 5x the training time (1,056 s against 381 s). λ ≥ 0.3 cost accuracy; λ = 1
     * diverged. docs/experiments/delve-vs-naive.md has the tables.
     */
    strategy: 'naive' as Strategy,
    batchSize: 100,
    /**
     * SGD with momentum and weight decay, cosine-decayed over the run. LeNet5 on full MNIST in 4 epochs:
     * 99.29% without a key, 99.38% naive, 99.30% delve (docs/experiments/delve-vs-naive.md).
     */
    lr: 0.05,
    momentum: 0.9,
    weightDecay: 5e-4,
    epochs: 4,
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
    /** Sign of the replica term: 'ascent' as the paper's text describes it (see core/locking.ts delveDirection). */
    direction: 'ascent' as 'ascent' | 'descent',
  },
  /**
   * Post-hoc embedding into a model trained elsewhere (weightmark watermark, POST /v1/models/{id}/watermark):
   * the release's low lr — the model is trained already, the fine-tune only has to heal what the key's
   * values cost — for two epochs, cosine-decayed.
   */
  watermark: {
    epochs: 2,
    lr: 0.01,
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
