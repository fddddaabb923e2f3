/**
 * Post-hoc embedding: a model trained elsewhere (uploaded as a PyTorch checkpoint, ONNX, …) gets a
 * fresh committed key by fine-tuning its free weights — a training job started from the model, whose
 * key is drawn before the first step and whose result reports the accuracy before and after.
 */
import type { JobRecord } from '../store/types.js';
import { defaults } from '../core/config.js';
import { getArchitecture } from '../core/architectures.js';
import { defaultDatasetFor } from '../data/datasets.js';
import { AppError } from './errors.js';
import type { Actor, ServiceContext } from './context.js';
import { getModel } from './models.js';
import { pick, startTraining, type TrainRequest } from './training.js';

/** The training request's knobs a post-hoc fine-tune takes (the architecture and the init are the model's). */
export type WatermarkRequest = Partial<Pick<TrainRequest, 'name' | 'dataset' | 'datasetId' | 'epochs' | 'batchSize' | 'lr' | 'momentum' | 'weightDecay' | 'limit' | 'seed' | 'keyN'>> & {
  strategy?: 'naive' | 'delve';
};

export async function startWatermarking(ctx: ServiceContext, actor: Actor, modelId: string, req: WatermarkRequest): Promise<JobRecord> {
  const model = await getModel(ctx, modelId);
  if (!model.arch || !ctx.engines.knownArchitecture(model.arch)) {
    throw new AppError('WM_ERR_ARCH_UNKNOWN', `model '${modelId}' has architecture '${model.arch ?? 'unknown'}'; watermarking needs one of ${ctx.engines.architectures().join(', ')} (upload it with the form field arch=NAME)`);
  }
  const train: TrainRequest = {
    name: req.name || `${model.name} (watermarked)`,
    arch: model.arch,
    // An uploaded dataset (both given: startTraining refuses), a built-in one, or the first built-in whose images fit.
    ...(req.datasetId ? pick(req, ['datasetId', 'dataset']) : { dataset: req.dataset ?? defaultDatasetFor(getArchitecture(model.arch).inputShape) }),
    strategy: req.strategy ?? defaults.training.strategy,
    epochs: req.epochs ?? defaults.watermark.epochs,
    lr: req.lr ?? defaults.watermark.lr,
    ...pick(req, ['batchSize', 'momentum', 'weightDecay', 'limit', 'seed', 'keyN']),
    initModelId: model.id,
    posthoc: true,
  };
  return startTraining(ctx, actor, train);
}
