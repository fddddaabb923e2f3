/**
 * Training jobs: validate the request, queue a job, and — when the worker is done — register the
 * trained model with its owner key sealed, in the same unit of work that marks the job succeeded.
 */
import type { DatasetRecord, JobRecord } from '../store/types.js';
import type { KeyCommitment } from '../core/commitment.js';
import type { JobHandler } from '../jobs/runner.js';
import { AppError } from './errors.js';
import { newId, type Actor, type ServiceContext } from './context.js';
import { newJob } from './jobSubmission.js';
import { newCommitment, openCommitment } from './commitments.js';
import { importedMeta } from './importedModels.js';
import { getModel, loadParams, sealKey, storeAnchor, storeMadeModel } from './models.js';
import { CHECKPOINT_PHASE, TaskCancelled } from './ports.js';
import { getDataset, uploadedTrainingData } from './datasets.js';
import { join } from 'node:path';
import { getArchitecture } from '../core/architectures.js';
import { hasCheckpoint, removeCheckpoint } from '../store/trainingCheckpoint.js';
import { datasetNames, datasetShapes, defaultDatasetFor, type DatasetName } from '../data/datasets.js';

export interface TrainRequest {
  name?: string;
  arch: string;
  /** Absent (and no datasetId): the first dataset whose images fit the architecture (MNIST for lenet5/mlp, CIFAR-10 for resnet32/allcnnc). */
  dataset?: string;
  /** An uploaded dataset instead of a built-in one: trained on its training split, evaluated on its held-out split. */
  datasetId?: string;
  strategy: 'none' | 'naive' | 'delve';
  epochs: number;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  limit?: number;
  seed?: number;
  keyN?: number;
  initModelId?: string;
  /**
   * Set by POST /v1/models/{id}/watermark (never by a client): the init model was trained elsewhere, so
   * the key is drawn before the first step and the accuracy before the fine-tune is reported.
   */
  posthoc?: boolean;
}

export async function startTraining(ctx: ServiceContext, actor: Actor, asked: TrainRequest): Promise<JobRecord> {
  if (!ctx.engines.knownArchitecture(asked.arch)) {
    throw new AppError('WM_ERR_ARCH_UNKNOWN', `architecture '${asked.arch}' is unknown; supported: ${ctx.engines.architectures().join(', ')}`);
  }
  if (asked.dataset && asked.datasetId) {
    throw new AppError('WM_ERR_VALIDATION', `give either dataset (a built-in: ${datasetNames.join(', ')}) or datasetId (an uploaded dataset), not both; got dataset '${asked.dataset}' and datasetId '${asked.datasetId}'`);
  }
  let req: TrainRequest;
  if (asked.datasetId) {
    checkUploadedDatasetFits(asked.arch, await getDataset(ctx, asked.datasetId));
    req = { ...asked };
  } else {
    req = { ...asked, dataset: asked.dataset ?? defaultDatasetFor(getArchitecture(asked.arch).inputShape) };
    checkDatasetFits(req.arch, req.dataset!);
  }
  if (req.initModelId) await getModel(ctx, req.initModelId);
  const job = newJob(actor, 'train', { ...req });
  // The key is committed now, before any weight exists: its digest is signed and chained into the audit log.
  const c = req.strategy === 'none' ? undefined : newCommitment(ctx, actor, { subject: job.id, arch: req.arch, ...(req.keyN ? { n: req.keyN } : {}) });
  const input = { ...job.input, ...(c ? { commitment: c.record.digest } : {}) };
  await ctx.store.write((w) => {
    c?.write(w);
    w.insertJob({ ...job, input });
    w.appendAudit({ actor: actor.sub, role: actor.role, action: 'job.submit', target: job.id, details: { kind: 'train', input } });
  });
  ctx.jobs.enqueue(job.id);
  return { ...job, input };
}

/** @throws AppError WM_ERR_DATASET_MISMATCH when the dataset's images are not the architecture's input. */
export function checkDatasetFits(archName: string, dataset: string): void {
  const shape = datasetShapes[dataset as DatasetName];
  const input = getArchitecture(archName).inputShape;
  if (shape && shape.join('x') !== input.join('x')) {
    const fitting = datasetNames.filter((d) => datasetShapes[d].join('x') === input.join('x'));
    throw new AppError('WM_ERR_DATASET_MISMATCH', `${archName} takes ${input.join('x')} inputs; ${dataset} has ${shape.join('x')} images. Datasets that fit: ${fitting.join(', ')}`);
  }
}

/**
 * @throws AppError WM_ERR_DATASET_MISMATCH when an uploaded dataset's images are not the architecture's
 *   input, or it has more classes than the architecture has outputs (fewer is fine: the outputs of
 *   absent classes are simply never the target).
 */
export function checkUploadedDatasetFits(archName: string, d: DatasetRecord): void {
  const arch = getArchitecture(archName);
  if (d.shape.join('x') !== arch.inputShape.join('x')) {
    throw new AppError('WM_ERR_DATASET_MISMATCH', `${archName} takes ${arch.inputShape.join('x')} inputs; dataset ${d.id} ('${d.name}') has ${d.shape.join('x')} images`);
  }
  if (d.classes.length > arch.classes) {
    throw new AppError('WM_ERR_DATASET_MISMATCH', `${archName} has ${arch.classes} outputs; dataset ${d.id} ('${d.name}') has ${d.classes.length} classes`);
  }
}

/** The commitment a job recorded at submission. @throws when it is missing. */
export async function jobCommitment(ctx: ServiceContext, digest: unknown): Promise<KeyCommitment> {
  const rec = typeof digest === 'string' ? await ctx.store.getCommitment(digest) : undefined;
  if (!rec) throw new Error(`the job's key commitment ${String(digest)} is missing`);
  return openCommitment(ctx, rec);
}

export function trainingHandler(ctx: ServiceContext): JobHandler {
  return {
    async run(job, { signal, onProgress }) {
      const input = job.input as unknown as TrainRequest & { commitment?: string };
      // Jobs record the dataset they were submitted with (filled in at submission when the request had none).
      const uploaded = input.datasetId ? await uploadedTrainingData(ctx, input.datasetId) : undefined;
      const req = { ...input, dataset: uploaded?.id ?? input.dataset ?? defaultDatasetFor(getArchitecture(input.arch).inputShape) };
      const commitment = req.strategy === 'none' ? undefined : await jobCommitment(ctx, req.commitment);
      const initModel = req.initModelId ? await getModel(ctx, req.initModelId) : undefined;
      const init = initModel ? await loadParams(ctx, initModel) : undefined;
      // A licensor's own network (imported from ONNX): the child process gets the architecture itself, and
      // the new model keeps the graph and origin map so its releases download in the licensor's format.
      const imported = initModel ? importedMeta(initModel) : undefined;
      const keyId = newId('key');
      const runDir = jobCheckpointDir(ctx, job.id);
      // shared queue: this worker may be taking the job over; the last checkpoint is in the shared store
      const mirror = ctx.checkpoints;
      const restored = await mirror?.restore(job.id, runDir);
      if (restored !== undefined) ctx.logger.info('training resumes from a mirrored checkpoint', { job: job.id, epoch: restored });
      let mirrored = Promise.resolve();
      const out = await ctx.executor.run(
        {
          kind: 'train', arch: req.arch, ...(imported ? { architecture: imported.architecture } : {}), dataset: req.dataset, ...(uploaded ? { uploaded } : {}), strategy: req.strategy, epochs: req.epochs,
          ...pick(req, ['batchSize', 'lr', 'momentum', 'weightDecay', 'limit', 'seed']),
          keyId, ...(commitment ? { commitment } : {}), ...(init ? { init } : {}), checkpointDir: runDir,
          ...(req.posthoc ? { embedAt: 0, evaluateInit: true } : {}),
        },
        {
          signal,
          onProgress: (p) => {
            if (!mirror || p.phase !== CHECKPOINT_PHASE) return onProgress(p);
            // announced once mirrored: "checkpoint saved" then means another worker can take over from it
            const epoch = p.epoch ?? 0;
            mirrored = mirrored
              .then(() => mirror.save(job.id, runDir, epoch))
              .then(() => onProgress(p), (e: Error) => ctx.logger.warn('checkpoint not mirrored', { job: job.id, epoch, error: e.message }));
          },
        },
      );
      await mirrored;
      if (signal.aborted) throw new TaskCancelled();
      if (!out.params) throw new Error('the training worker returned no model');
      const anchor = out.anchor ? await storeAnchor(ctx, out.anchor, req.arch) : undefined;
      const made = await storeMadeModel(ctx, {
        name: req.name || `${req.arch}-${req.strategy}`, arch: req.arch, source: 'training', params: { ...out.params, arch: req.arch },
        ...(req.initModelId ? { parentModelId: req.initModelId } : {}), createdBy: job.createdBy,
        meta: {
          jobId: job.id, ...(imported ? { imported } : {}), ...(uploaded ? { datasetId: uploaded.id } : { dataset: req.dataset }), strategy: req.strategy, epochs: req.epochs, ...(anchor ? { anchor } : {}), ...(req.posthoc ? { posthoc: true } : {}),
          ...(out.initialAccuracy !== undefined ? { accuracyBefore: out.initialAccuracy } : {}), ...(out.testAccuracy !== undefined ? { testAccuracy: out.testAccuracy } : {}), ...(out.backend ? { backend: out.backend } : {}),
        },
      });
      const sealed = out.key ? sealKey(ctx, made.model.id, 'owner', out.key, keyId) : undefined;
      // with an uploaded dataset, testAccuracy is measured on its held-out split: say so, and on how many
      const evaluatedOn = uploaded ? { evaluatedOn: { datasetId: uploaded.id, split: 'held-out', samples: uploaded.split.heldOut } } : {};
      return {
        result: {
          modelId: made.model.id, ...(sealed ? { keyId } : {}), ...(out.initialAccuracy !== undefined ? { accuracyBefore: out.initialAccuracy } : {}),
          ...(out.testAccuracy !== undefined ? { testAccuracy: out.testAccuracy } : {}), ...evaluatedOn, ...(out.backend ? { backend: out.backend } : {}),
        },
        commit: (w) => {
          made.write(w);
          if (sealed) {
            w.insertKey(sealed);
            w.setModelOwnerKey(made.model.id, keyId);
          }
          w.appendAudit({ actor: job.createdBy, role: 'system', action: req.posthoc ? 'model.watermark' : 'model.train', target: made.model.id, details: { jobId: job.id, files: made.model.files, ...(sealed ? { keyId } : {}) } });
        },
      };
    },
    resumable: (job) => hasCheckpoint(jobCheckpointDir(ctx, job.id)),
    settled: (job) => {
      removeCheckpoint(jobCheckpointDir(ctx, job.id));
      ctx.checkpoints?.remove(job.id).catch((e: Error) => ctx.logger.warn('mirrored checkpoint not removed', { job: job.id, error: e.message }));
    },
  };
}

/** A training job's checkpoints: under the data folder (private, 0700), one folder per job. */
function jobCheckpointDir(ctx: ServiceContext, jobId: string): string {
  return join(ctx.config.dataDir, 'checkpoints', jobId);
}

export function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
