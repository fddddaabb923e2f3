/**
 * The key a training run embeds, from its commitment: the plan is drawn from the commitment's seed
 * before the first step; the values are drawn from the model's own weights once `defaults.key.embedAt`
 * of the run has passed, and again at `defaults.key.redrawAt` (see core/keyPlan.ts and
 * docs/experiments/embedding.md for why then).
 */
import { defaults } from '../core/config.js';
import { commitmentDigest, type KeyCommitment } from '../core/commitment.js';
import { planFromCommitment } from '../core/keyPlan.js';
import { keyableTensors } from '../core/architectures.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import type { TrainOptions } from './train.js';

export function committedTraining(c: KeyCommitment, init: ParamSet, keyId: string, opts: { at?: number; avoid?: readonly WatermarkKey[] } = {}): NonNullable<TrainOptions['plan']> {
  return { plan: planFromCommitment(c, keyableTensors(init.arch, init.tensors), opts.avoid), at: opts.at ?? defaults.key.embedAt, id: keyId, commitment: commitmentDigest(c) };
}
