/**
 * Attack sweeps: the service attacks one of its own watermarked models (quantization, pruning, noise,
 * neuron permutation, rescaling, fine-tuning, overwriting, …) at several strengths and reports, per
 * strength, the task accuracy and the watermark score against the model's key. A job (child process:
 * fine-tuning attacks need tfjs); the numbers are the job's result.
 */
import type { JobRecord } from '../store/types.js';
import type { JobHandler } from '../jobs/runner.js';
import { attackNames } from '../attacks/index.js';
import { AppError } from './errors.js';
import type { Actor, ServiceContext } from './context.js';
import { submitJob } from './jobSubmission.js';
import { getModel, loadParams, openKey } from './models.js';
import { TaskCancelled } from './ports.js';

export interface AttackRequest {
  attack: string;
  strengths?: number[];
  quick?: boolean;
  invariant?: boolean;
  accuracyFloor?: number;
  seed?: number;
  dataLimit?: number;
  testLimit?: number;
}

export async function startAttackSweep(ctx: ServiceContext, actor: Actor, modelId: string, req: AttackRequest): Promise<JobRecord> {
  if (!attackNames().includes(req.attack)) {
    throw new AppError('WM_ERR_VALIDATION', `attack '${req.attack}' is unknown; supported: ${attackNames().join(', ')}`);
  }
  const model = await getModel(ctx, modelId);
  if (!model.ownerKeyId) throw new AppError('WM_ERR_MODEL_HAS_NO_KEY', `model '${modelId}' has no watermark key to score the attack against`);
  if (!model.arch || !ctx.engines.knownArchitecture(model.arch)) {
    throw new AppError('WM_ERR_ARCH_UNKNOWN', `model '${modelId}' has architecture '${model.arch ?? 'unknown'}'; attacks need one of ${ctx.engines.architectures().join(', ')}`);
  }
  return submitJob(ctx, actor, 'attack', { modelId, ...req });
}

export function attackHandler(ctx: ServiceContext): JobHandler {
  return {
    async run(job, { signal, onProgress }) {
      const req = job.input as unknown as AttackRequest & { modelId: string };
      const model = await getModel(ctx, req.modelId);
      const keyRec = model.ownerKeyId ? await ctx.store.getKey(model.ownerKeyId) : undefined;
      if (!keyRec) throw new Error(`model '${model.id}' lost its key`);
      const out = await ctx.executor.run(
        {
          kind: 'attack', arch: model.arch!, attack: req.attack, invariant: req.invariant ?? true, seed: req.seed ?? 1, testLimit: req.testLimit ?? 1000,
          fpr: ctx.config.fpr, model: await loadParams(ctx, model), key: await openKey(ctx, keyRec),
          ...(req.strengths ? { strengths: req.strengths } : {}), ...(req.quick !== undefined ? { quick: req.quick } : {}),
          ...(req.accuracyFloor !== undefined ? { accuracyFloor: req.accuracyFloor } : {}), ...(req.dataLimit !== undefined ? { dataLimit: req.dataLimit } : {}),
        },
        { signal, onProgress },
      );
      if (signal.aborted) throw new TaskCancelled();
      return { result: { modelId: model.id, sweep: out.sweep ?? {} } };
    },
  };
}
