/**
 * Attack sweeps: the service attacks one of its own watermarked models (quantization, pruning, noise,
 * neuron permutation, rescaling, fine-tuning, overwriting, …) at several strengths and reports, per
 * strength, the task accuracy and the watermark score against the model's key. A job (child process:
 * fine-tuning attacks need tfjs); the numbers are the job's result. A request names one `attack` or a
 * `chain` of steps (src/attacks/chainSpec.ts), checked here so a bad chain is a 400 before any job.
 */
import { importedMeta } from './importedModels.js';
import type { JobRecord, ModelRecord } from '../store/types.js';
import { datasetNames, datasetShapes } from '../data/datasets.js';
import type { Architecture } from '../core/architectures.js';
import { uploadedTrainingData } from './datasets.js';
import type { JobHandler } from '../jobs/runner.js';
import { attackNames, buildChain, checkOptions, formatChain, getAttack, type AttackOptions, type ChainStepSpec } from '../attacks/index.js';
import { getArchitecture } from '../core/architectures.js';
import { AppError } from './errors.js';
import type { Actor, ServiceContext } from './context.js';
import { submitJob } from './jobSubmission.js';
import { getModel, loadParams } from './models.js';
import { candidateIndex } from './candidateIndex.js';
import { groupInput, verifyOptions } from './verifications.js';
import { TaskCancelled } from './ports.js';
import { plotSweep } from '../report/plot.js';
import type { SweepResult } from '../attacks/sweep.js';

export interface AttackRequest {
  /** One attack; or give `chain`. */
  attack?: string;
  /** Attacks in a row; the step without a strength (else the last) is swept. */
  chain?: ChainStepSpec[];
  /** Options for the attack, or for every step of the chain. */
  options?: AttackOptions;
  strengths?: number[];
  quick?: boolean;
  invariant?: boolean;
  accuracyFloor?: number;
  seed?: number;
  dataLimit?: number;
  testLimit?: number;
}

/**
 * Checks the attack or chain and its options. @throws AppError WM_ERR_VALIDATION (400) saying what was
 * found: both or neither of attack and chain, an unknown attack (listing the known ones), a chain with
 * more than one step left without a strength, malformed options.
 */
function checkAttackRequest(req: AttackRequest): void {
  if (req.attack !== undefined && req.chain !== undefined) throw new AppError('WM_ERR_VALIDATION', 'give `attack` (one attack) or `chain` (several in a row), not both');
  if (req.attack === undefined && req.chain === undefined) throw new AppError('WM_ERR_VALIDATION', `give \`attack\` (one of ${attackNames().join(', ')}) or \`chain\` ([{ attack, strength, options }, …])`);
  if (req.attack !== undefined && !attackNames().includes(req.attack)) {
    throw new AppError('WM_ERR_VALIDATION', `attack '${req.attack}' is unknown; supported: ${attackNames().join(', ')}`);
  }
  try {
    if (req.chain !== undefined) buildChain(req.chain);
    if (req.options !== undefined) checkOptions(req.options, 'options');
  } catch (e) {
    throw new AppError('WM_ERR_VALIDATION', e instanceof Error ? e.message : String(e));
  }
}

export async function startAttackSweep(ctx: ServiceContext, actor: Actor, modelId: string, req: AttackRequest): Promise<JobRecord> {
  checkAttackRequest(req);
  const model = await getModel(ctx, modelId);
  if (!model.ownerKeyId) throw new AppError('WM_ERR_MODEL_HAS_NO_KEY', `model '${modelId}' has no watermark key to score the attack against`);
  if (!model.arch || !ctx.engines.knownArchitecture(model.arch)) {
    throw new AppError('WM_ERR_ARCH_UNKNOWN', `model '${modelId}' has architecture '${model.arch ?? 'unknown'}'; attacks need one of ${ctx.engines.architectures().join(', ')}`);
  }
  const attack = req.chain ? buildChain(req.chain).attack : getAttack(req.attack!);
  const arch = getArchitecture(model.arch);
  const unfit = attack.unfit?.(arch);
  if (unfit) throw new AppError('WM_ERR_ATTACK_UNFIT', `${attack.name} cannot run on model '${modelId}': ${unfit}`);
  await attackData(ctx, model, arch);
  return submitJob(ctx, actor, 'attack', { modelId, ...req });
}

export function attackHandler(ctx: ServiceContext): JobHandler {
  return {
    async run(job, { signal, onProgress }) {
      const req = job.input as unknown as AttackRequest & { modelId: string };
      const model = await getModel(ctx, req.modelId);
      const keyRec = model.ownerKeyId ? await ctx.store.getKey(model.ownerKeyId) : undefined;
      if (!keyRec) throw new Error(`model '${model.id}' lost its key`);
      const imported = importedMeta(model);
      const own = await attackData(ctx, model, getArchitecture(model.arch!));
      const data = own.datasetId ? { uploaded: await uploadedTrainingData(ctx, own.datasetId) } : { dataset: own.dataset! };
      // Scored as verification would score it: the key's reference group (a release's is the model it was made from).
      const indexed = (await candidateIndex(ctx)).byKeyId.get(keyRec.id);
      if (!indexed) throw new Error(`key ${keyRec.id} of model '${model.id}' is not among the keys verification holds`);
      const verification = { group: await groupInput(ctx, indexed.group), row: indexed.key.row, options: verifyOptions(ctx) };
      const alignedOnto = indexed.group.anchored ? 'anchor' : 'model';
      const out = await ctx.executor.run(
        {
          kind: 'attack', arch: model.arch!, ...(imported ? { architecture: imported.architecture } : {}), attack: req.chain ? formatChain(req.chain) : req.attack!, invariant: req.invariant ?? true, seed: req.seed ?? 1, testLimit: req.testLimit ?? 1000,
          ...(req.chain ? { chain: req.chain } : {}), ...(req.options ? { options: req.options } : {}),
          model: await loadParams(ctx, model), verification, ...data,
          ...(req.strengths ? { strengths: req.strengths } : {}), ...(req.quick !== undefined ? { quick: req.quick } : {}),
          ...(req.accuracyFloor !== undefined ? { accuracyFloor: req.accuracyFloor } : {}), ...(req.dataLimit !== undefined ? { dataLimit: req.dataLimit } : {}),
        },
        { signal, onProgress },
      );
      if (signal.aborted) throw new TaskCancelled();
      return { result: { modelId: model.id, sweep: out.sweep ?? {}, ...(out.evaluatedOn ? { evaluatedOn: out.evaluatedOn } : {}), alignedOnto, plot: plotPath(job.id) } };
    },
  };
}

/**
 * The data a model was trained on, from its record (a release's from the model it was made from): an
 * uploaded dataset's id, a built-in dataset's name, or neither.
 */
async function dataRecordOf(ctx: ServiceContext, model: ModelRecord): Promise<{ datasetId?: string; dataset?: string }> {
  let m = model;
  const seen = new Set<string>();
  while (m.source === 'release' && m.parentModelId && !seen.has(m.id)) {
    seen.add(m.id);
    m = await getModel(ctx, m.parentModelId);
  }
  if (typeof m.meta.datasetId === 'string') return { datasetId: m.meta.datasetId };
  if (typeof m.meta.dataset === 'string' && (datasetNames as readonly string[]).includes(m.meta.dataset)) return { dataset: m.meta.dataset };
  return {};
}

/**
 * The data an attack on `model` measures and trains on: its own (dataRecordOf), else the built-in its input fits.
 * @throws AppError WM_ERR_ATTACK_UNFIT when there is neither (a model uploaded with an input no built-in dataset has).
 */
async function attackData(ctx: ServiceContext, model: ModelRecord, arch: Architecture): Promise<{ dataset?: string; datasetId?: string }> {
  const own = await dataRecordOf(ctx, model);
  if (own.datasetId || own.dataset) return own;
  const fits = datasetNames.find((d) => datasetShapes[d].join('x') === arch.inputShape.join('x'));
  if (!fits) {
    throw new AppError('WM_ERR_ATTACK_UNFIT', `model '${model.id}' takes ${arch.inputShape.join('x')} inputs, which no built-in dataset has, and it was not trained or watermarked here on an uploaded dataset: attacks need its data to measure accuracy (watermark it with a datasetId, POST /v1/models/{id}/watermark)`);
  }
  return { dataset: fits };
}

/** Where an attack job's plot is served (the job's result links it). */
export const plotPath = (jobId: string): string => `/v1/jobs/${jobId}/plot.svg`;

/**
 * The sweep of a succeeded attack job drawn as SVG (src/report/plot.ts), from the numbers its result
 * holds — rendered on request, so a job finished before plots were linked has one too.
 * @throws AppError WM_ERR_PLOT_NOT_FOUND (404) for a job that is not an attack (or holds no sweep),
 * WM_ERR_PLOT_NOT_READY (409) for an attack that has not succeeded.
 */
export function attackPlot(job: JobRecord): string {
  if (job.kind !== 'attack') throw new AppError('WM_ERR_PLOT_NOT_FOUND', `job '${job.id}' is a ${job.kind} job; only attack jobs (POST /v1/models/{id}/attacks) have a plot`);
  if (job.status !== 'succeeded') {
    const ended = job.status === 'failed' || job.status === 'cancelled';
    throw new AppError('WM_ERR_PLOT_NOT_READY', `attack job '${job.id}' is ${job.status}; ${ended ? 'it has no result to plot' : 'its plot comes when it succeeds (GET /v1/jobs/{id} or its events)'}`);
  }
  const sweep = (job.result as { sweep?: SweepResult } | null)?.sweep;
  if (!Array.isArray(sweep?.series)) throw new AppError('WM_ERR_PLOT_NOT_FOUND', `attack job '${job.id}' holds no sweep to plot`);
  // The stored result is JSON: a point without a score holds r = null, which the plot draws as unscored.
  return plotSweep(sweep);
}
