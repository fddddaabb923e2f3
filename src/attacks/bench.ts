/**
 * The real collaborators of an attack run or a sweep, assembled once from a key and a test set: the key
 * scorer, the ONNX Runtime accuracy evaluator (once per distinct model) and the attack context (a trainer whose gradient engine is
 * created on the first training attack, one per architecture, and the attacker's key generator).
 * Shared by `weightmark attack` and scripts/robustness-report.ts.
 */
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { LabelledData } from '../eval/accuracy.js';
import { createGradientEngine, type GradientEngine } from '../training/engine.js';
import { cachedEvaluator } from './evaluatorCache.js';
import { attackerKeygen, keyScorer, onnxEvaluator, verificationScorer, trainerFor, type TrainerOptions } from './pipeline.js';
import type { Evaluator, Scorer } from './sweep.js';
import type { AttackContext, TrainFn } from './types.js';

export interface BenchOptions {
  readonly key: WatermarkKey;
  /** Where accuracy is measured (e.g. the MNIST test set). */
  readonly testData: LabelledData;
  /** Training attacks: examples per epoch (undefined = the whole training set). */
  readonly dataLimit?: number;
  /** Worker threads of the gradient engine (default 1: training attacks are short). */
  readonly threads?: number;
  /** Test samples the trainer scores after each epoch; the sweep measures accuracy itself (default 200). */
  readonly trainerTestLimit?: number;
  readonly fpr?: number;
  /**
   * Score as the service's verification does (verificationScorer: the better of as read and invariant)
   * rather than the one alignment the sweep asks for (keyScorer, the report's plain/invariant columns).
   */
  readonly asVerification?: boolean;
  /** The model's own data (a built-in name, or the name `data` answers to); default: the built-in its input fits. */
  readonly dataset?: string;
  /** Data that is not a built-in dataset (the model's own dataset file), as trainerFor takes it. */
  readonly data?: TrainerOptions['data'];
}

export interface AttackBench {
  readonly scorer: Scorer;
  readonly evaluate: Evaluator;
  /** For runSweep's `context` (or, with a seed, an attack's run). */
  readonly context: Omit<AttackContext, 'seed' | 'signal'>;
  /** Frees the gradient engines the training attacks created (none for pure attacks). */
  dispose(): Promise<void>;
}

export function attackBench(o: BenchOptions): AttackBench {
  const engines: Promise<GradientEngine>[] = [];
  const trainers = new Map<string, Promise<TrainFn>>();
  const train: TrainFn = async (req) => {
    let trainer = trainers.get(req.arch.name);
    if (!trainer) {
      const engine = createGradientEngine(req.arch, { threads: o.threads ?? 1 });
      engines.push(engine);
      trainer = engine.then((e) => trainerFor({ engine: e, testLimit: o.trainerTestLimit ?? 200, ...(o.data ? { data: o.data } : {}) }));
      trainers.set(req.arch.name, trainer);
    }
    return (await trainer)(req);
  };
  return {
    scorer: (o.asVerification ? verificationScorer : keyScorer)(o.key, o.fpr !== undefined ? { fpr: o.fpr } : {}),
    // Plain and invariant sweeps of a function-preserving attack evaluate the very same weights.
    evaluate: cachedEvaluator(onnxEvaluator(o.testData)),
    context: { train, keygen: attackerKeygen, ...(o.dataset !== undefined ? { dataset: o.dataset } : {}), ...(o.dataLimit !== undefined ? { dataLimit: o.dataLimit } : {}) },
    async dispose() {
      const settled = await Promise.allSettled(engines);
      for (const s of settled) if (s.status === 'fulfilled') await s.value.dispose();
    },
  };
}
