/**
 * The real collaborators of a sweep, wired: the scorer (align → extract → score, as a verification
 * does it), the accuracy evaluator (ONNX Runtime), the trainer for training attacks (trainModel at a
 * constant learning rate, datasets loaded once) and the attacker's key generator.
 */
import type { Architecture } from '../core/architectures.js';
import { alignToKey } from '../core/align/index.js';
import { extractValues } from '../core/extract.js';
import { generateKey, keyTargetsFromParamSet } from '../core/keygen.js';
import type { ParamSet } from '../core/paramSet.js';
import { scoreAgainstKey } from '../core/score.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { defaults } from '../core/config.js';
import { loadDataset, type Dataset, type DatasetName } from '../data/datasets.js';
import { evaluateAccuracy, type EvalOptions, type LabelledData } from '../eval/accuracy.js';
import type { EnginePreference, GradientEngine } from '../training/engine.js';
import { trainModel } from '../training/train.js';
import { oneKeyGroup, scoreOneKey } from '../verification/verifyGroups.js';
import type { Evaluator, Scorer, SweepModel } from './sweep.js';
import type { KeyGenFn, TrainFn } from './types.js';

/**
 * Scores a suspect against the owner's key (the model's own `key`, else `key`) with the owner's model
 * (its `anchor`, else its `reference`, else its params) as the alignment reference — as a verification does: Bonferroni
 * over the alignments tried, and the measured variance inflation when the invariant stage ran.
 */
export function keyScorer(key: WatermarkKey, opts: { fpr?: number } = {}): Scorer {
  return (suspect, _suspectArch, owner, { invariant }) => {
    const k = owner.key ?? key;
    const aligned = alignToKey(suspect, k, { reference: owner.anchor ?? owner.reference ?? owner.params, arch: owner.arch, invariant });
    const extracted = extractValues(aligned.params, k);
    return scoreAgainstKey(extracted, k, {
      ...(opts.fpr !== undefined ? { fpr: opts.fpr } : {}), comparisons: aligned.comparisons, ...(invariant && !owner.anchor ? { inflation: defaults.score.invariantInflation } : {}),
    });
  };
}

/**
 * Scores a suspect as the service's verification scoped to the owner's key would (verifyOneKey): onto the
 * owner's anchor (no inflation), else its reference or its params (t inflated); both passes, as read and
 * invariant, the better kept with both in the correction — or as read only when `invariant` is off. The
 * CLI's attack reports this, so that an auditor's sweep and the service agree; the robustness report keeps
 * keyScorer, which shows the two alignments side by side.
 */
export function verificationScorer(key: WatermarkKey, opts: { fpr?: number } = {}): Scorer {
  const groups = new WeakMap<SweepModel, ReturnType<typeof oneKeyGroup>>();
  return (suspect, _suspectArch, owner, { invariant }) => {
    let g = groups.get(owner);
    if (!g) {
      g = oneKeyGroup(owner.key ?? key, owner.anchor ?? owner.reference ?? owner.params, owner.arch, owner.anchor ? 1 : defaults.score.invariantInflation);
      groups.set(owner, g);
    }
    return scoreOneKey(suspect, g, 0, { fpr: opts.fpr ?? defaults.score.fpr, combination: defaults.score.combination, inflation: defaults.score.invariantInflation, ...(invariant ? {} : { asReadOnly: true }) });
  };
}

/** Accuracy on `data` through ONNX Runtime. */
export function onnxEvaluator(data: LabelledData, opts: EvalOptions = {}): Evaluator {
  return async (set: ParamSet, arch: Architecture) => (await evaluateAccuracy(set, arch, data, opts)).accuracy;
}

export interface TrainerOptions {
  /** Test samples the trainer scores after each epoch (the sweep measures accuracy itself). */
  readonly testLimit?: number;
  readonly engine?: GradientEngine;
  readonly backend?: EnginePreference;
  readonly threads?: number;
  /**
   * Data that is not a built-in dataset (an uploaded dataset's splits), by the name a request gives:
   * its training split (the first `limit` samples when given) and the test data scored after each epoch.
   */
  readonly data?: (name: string, limit: number | undefined) => { train: Dataset; test: Dataset } | undefined;
}

/** trainModel with datasets cached per (name, limit). */
export function trainerFor(opts: TrainerOptions = {}): TrainFn {
  const cache = new Map<string, { train: Dataset; test: Dataset }>();
  return async (req) => {
    const k = `${req.dataset}:${req.limit ?? 'all'}`;
    let data = cache.get(k);
    if (!data) {
      data = opts.data?.(req.dataset, req.limit) ?? {
        train: loadDataset(req.dataset as DatasetName, 'train', req.limit !== undefined ? { limit: req.limit } : {}),
        test: loadDataset(req.dataset as DatasetName, 'test', { limit: opts.testLimit ?? 1000 }),
      };
      cache.set(k, data);
    }
    // The data is given: its name (possibly an uploaded dataset's id) only labelled the request.
    const { dataset: _, ...rest } = req;
    return trainModel({
      ...rest,
      trainData: data.train,
      testData: data.test,
      ...(opts.engine ? { engine: opts.engine } : {}),
      ...(opts.backend ? { backend: opts.backend } : {}),
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    });
  };
}

/** The attacker's own random key, scale-matched to the stolen model like ours. */
export const attackerKeygen: KeyGenFn = (set, arch, { n, seed }) =>
  generateKey(keyTargetsFromParamSet(set), { n, seed: `attacker-${seed}`, arch: arch.name, id: `attacker-${seed}` });
