import { getArchitecture } from '../core/architectures.js';
import { defaults, type Strategy } from '../core/config.js';
import { embedValues } from '../core/extract.js';
import type { KeyCommitment } from '../core/commitment.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { committedTraining } from './committedKey.js';
import { trainModel, type TrainOptions, type TrainResult } from './train.js';
import type { Dataset, DatasetName } from '../data/datasets.js';

export interface ReleaseOptions {
  readonly licensee: string;
  /** The owner's training data (its shape must be the architecture's); default MNIST. */
  readonly dataset?: DatasetName;
  /** Or the data itself (an uploaded dataset's training and held-out splits; `limit` is then the caller's to apply). */
  readonly data?: { readonly train: Dataset; readonly test: Dataset };
  readonly strategy?: Strategy;
  /** Fine-tuning budget: a fraction of an epoch is enough to heal the accuracy the new key costs. */
  readonly epochs?: number;
  readonly limit?: number;
  readonly lr?: number;
  /** The licensee key's commitment (its n is the key's size). */
  readonly commitment: KeyCommitment;
  readonly keyId: string;
  readonly onProgress?: TrainOptions['onProgress'];
  readonly signal?: AbortSignal;
  readonly threads?: number;
}

export interface Release {
  readonly licenseeKey: WatermarkKey;
  readonly params: ParamSet;
  readonly testAccuracy: number;
  readonly training: Pick<TrainResult, 'backend' | 'threads' | 'seconds' | 'history'>;
}

/**
 * Makes a licensee's copy: a fresh committed key (positions disjoint from the owner's, values drawn
 * from the trained weights of each tensor) written into the owner's watermarked model before the first
 * step, then a short fine-tune with BOTH keys locked, so the copy carries the owner's mark and the
 * licensee's fingerprint.
 */
export async function embedRelease(ownerModel: ParamSet, ownerKey: WatermarkKey, opts: ReleaseOptions): Promise<Release> {
  const archName = ownerModel.arch ?? ownerKey.arch;
  if (!archName) throw new Error('The owner model does not say its architecture');
  const arch = getArchitecture(archName);
  const start = embedValues(ownerModel, ownerKey);
  const strategy = opts.strategy && opts.strategy !== 'none' ? opts.strategy : defaults.release.strategy;
  const result = await trainModel({
    arch, ...(opts.data ? { trainData: opts.data.train, testData: opts.data.test } : opts.dataset ? { dataset: opts.dataset } : {}), strategy, keys: [ownerKey], plan: committedTraining(opts.commitment, start, opts.keyId, { at: 0, avoid: [ownerKey] }), init: start, schedule: 'cosine',
    epochs: opts.epochs ?? defaults.release.epochs,
    limit: opts.limit ?? defaults.release.limit,
    lr: opts.lr ?? defaults.release.lr,
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (!result.key) throw new Error('the release training returned no licensee key');
  return {
    licenseeKey: result.key,
    params: result.params,
    testAccuracy: result.testAccuracy,
    training: { backend: result.backend, threads: result.threads, seconds: result.seconds, history: result.history },
  };
}
