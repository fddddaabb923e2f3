import { activationShapes, getArchitecture, paramSpecs, type Architecture } from '../core/architectures.js';
import { defaults, type Strategy } from '../core/config.js';
import { LockedSgd, delveDirection, gaussianSource, makeReplica, mergeLocks, resolveLocks, type DelveDirection, type Lock } from '../core/locking.js';
import { materializeKey, type KeyPlan } from '../core/keyPlan.js';
import type { ParamSet } from '../core/paramSet.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { gatherBatch, loadDataset, seededUniform, shuffledIndices, type Dataset, type DatasetName } from '../data/datasets.js';
import { createGradientEngine, type EnginePreference, type GradientEngine } from './engine.js';
import { initParams } from '../core/init.js';

export interface TrainProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  /** Running mean over the epoch so far. */
  readonly loss: number;
  readonly accuracy: number;
  readonly samplesPerSec: number;
  readonly etaSec: number;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly loss: number;
  readonly trainAccuracy: number;
  readonly testAccuracy: number;
  readonly seconds: number;
  /** The engine this epoch ran on: a resumed run's epochs may have run on other settings than its last leg's. Absent in checkpoints written before it was recorded. */
  readonly backend?: string;
  readonly threads?: number;
}

export interface TrainOptions {
  readonly arch: string | Architecture;
  readonly dataset?: DatasetName;
  /** 'none' trains (or fine-tunes) all parameters freely; 'naive' locks the keys; 'delve' adds the replica term. */
  readonly strategy: Strategy;
  /** The key to lock. */
  readonly key?: WatermarkKey;
  /** More keys to lock at once: the owner's and a licensee's, for a release. */
  readonly keys?: readonly WatermarkKey[];
  /**
   * A committed key plan whose values are drawn from the model's own weights once a fraction `at` of
   * the steps has run (0: before the first step) and locked from then on; the result carries the key.
   * At each fraction of `redrawAt` (default defaults.key.redrawAt; only those after `at` count) the
   * values are drawn again from the same signal, so they follow their layer as it keeps training.
   */
  readonly plan?: { readonly plan: KeyPlan; readonly at: number; readonly id: string; readonly commitment?: string; readonly redrawAt?: readonly number[] };
  /** Tensors (by name) held fixed during training: the frozen features of a transfer-learning attack. */
  readonly frozen?: readonly string[];
  /** Start from these weights (fine-tuning, releases); otherwise a seeded initialisation. */
  readonly init?: ParamSet;
  readonly epochs: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
  /** 'cosine' decays lr to 0 over the run (training); 'constant' keeps it (fine-tuning as an attacker would). */
  readonly schedule?: 'cosine' | 'constant';
  /** Use only the first N training samples. */
  readonly limit?: number;
  readonly testLimit?: number;
  readonly seed?: number;
  /**
   * Delve's replicas: how many, their noise (relative), the weight λ of the ascent term, and a margin:
   * a replica whose loss already exceeds the model's by `margin` stops pushing (the ascent objective is
   * unbounded, and at λ = 1 without a margin LeNet5 diverged within 12 steps).
   */
  readonly delve?: { readonly replicas?: number; readonly sigma?: number; readonly lambda?: number; readonly margin?: number; readonly direction?: DelveDirection };
  readonly threads?: number;
  readonly backend?: EnginePreference;
  /** Preloaded data (saves reloading in experiments). */
  readonly trainData?: Dataset;
  readonly testData?: Dataset;
  /** An engine to reuse; the caller keeps ownership. */
  readonly engine?: GradientEngine;
  readonly onProgress?: (p: TrainProgress) => void;
  /** Called every `checkpointEvery` steps with the current weights (read-only views). */
  readonly onCheckpoint?: (globalStep: number, params: ParamSet) => void;
  readonly checkpointEvery?: number;
  /** Continue a run from the state an earlier call handed to onEpochEnd (same options otherwise). */
  readonly resume?: TrainState;
  /** Called after each epoch with everything a resumed run needs; awaited before the next epoch starts. */
  readonly onEpochEnd?: (state: TrainState) => void | Promise<void>;
  readonly signal?: AbortSignal;
}

/**
 * A run between two epochs. Shuffling, augmentation and dropout are functions of (seed, epoch, step),
 * so with the weights, the momentum, the key drawn so far and the count of delve's noise draws a
 * resumed run takes the same steps as an uninterrupted one.
 */
export interface TrainState {
  /** Epochs completed. */
  readonly epoch: number;
  readonly params: readonly Float32Array[];
  readonly velocity: readonly Float32Array[];
  readonly history: readonly EpochRecord[];
  readonly samplesSeen: number;
  readonly seconds: number;
  readonly noiseDraws: number;
  /** The weights from before the planned key was drawn; present once it has been (its values are then locked in `params`). */
  readonly anchor?: ParamSet;
}

export interface TrainResult {
  readonly params: ParamSet;
  /** The key materialised from `plan`, when one was given. */
  readonly key?: WatermarkKey;
  /**
   * The weights just before the planned key was drawn and locked: they cannot depend on the key's
   * signal, so the invariant re-alignment uses them as its reference (docs/statistics.md, "the
   * alignment anchor"). Only with `plan`.
   */
  readonly anchor?: ParamSet;
  readonly testAccuracy: number;
  readonly backend: string;
  readonly threads: number;
  readonly history: EpochRecord[];
  readonly seconds: number;
  readonly samplesPerSec: number;
}

export class TrainingCancelled extends Error {
  constructor() {
    super('Training was cancelled');
    this.name = 'TrainingCancelled';
  }
}

function paramsFromInit(arch: Architecture, init: ParamSet): Float32Array[] {
  return paramSpecs(arch).map((spec) => {
    const t = init.tensors.find((x) => x.name === spec.name);
    if (!t) throw new Error(`The initial model has no tensor '${spec.name}' that ${arch.name} needs`);
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new Error(`Tensor '${spec.name}' has shape [${t.shape.join(', ')}]; ${arch.name} needs [${spec.shape.join(', ')}]`);
    }
    return new Float32Array(t.data);
  });
}

export function toParamSet(arch: Architecture, params: readonly Float32Array[]): ParamSet {
  return { arch: arch.name, tensors: paramSpecs(arch).map((s, i) => ({ name: s.name, shape: [...s.shape], data: params[i]! })) };
}

/**
 * Trains a model with a strategy. The weights live in JS Float32Arrays; the engine only computes losses
 * and gradients, so the locking and the delve update are the pure functions of core/locking.ts.
 * @throws TrainingCancelled when the signal aborts (nothing is returned, nothing half-written).
 */
export async function trainModel(opts: TrainOptions): Promise<TrainResult> {
  const arch = typeof opts.arch === 'string' ? getArchitecture(opts.arch) : opts.arch;
  const specs = paramSpecs(arch);
  const datasetName = opts.dataset ?? 'mnist';
  const train = opts.trainData ?? loadDataset(datasetName, 'train', opts.limit !== undefined ? { limit: opts.limit } : {});
  const test = opts.testData ?? loadDataset(datasetName, 'test', opts.testLimit !== undefined ? { limit: opts.testLimit } : {});
  if (train.shape.join('x') !== arch.inputShape.join('x')) {
    throw new Error(`${arch.name} takes ${arch.inputShape.join('x')} inputs; ${train.name} has ${train.shape.join('x')} images (pick a dataset of that shape)`);
  }
  if (!Number.isInteger(opts.epochs) || opts.epochs < 0) throw new Error(`epochs must be a non-negative integer, got ${opts.epochs}`);
  const batchSize = opts.batchSize ?? defaults.training.batchSize;
  const baseLr = opts.lr ?? defaults.training.lr;
  const seed = opts.seed ?? 1;
  const keys = opts.strategy === 'none' ? [] : [...(opts.key ? [opts.key] : []), ...(opts.keys ?? [])];
  if (opts.strategy !== 'none' && keys.length === 0 && !opts.plan) throw new Error(`Strategy '${opts.strategy}' needs a watermark key`);
  if (opts.plan && opts.strategy === 'none') throw new Error("A key plan needs strategy 'naive' or 'delve'");
  if (opts.plan && !(opts.plan.at >= 0 && opts.plan.at < 1)) throw new Error(`plan.at must be a fraction in [0, 1), got ${opts.plan.at}`);
  const givenLocks: Lock[] = mergeLocks(...keys.map((k) => resolveLocks(k, specs)));
  let locks: Lock[] = givenLocks;
  const delve = {
    replicas: opts.delve?.replicas ?? defaults.delve.replicas,
    sigma: opts.delve?.sigma ?? defaults.delve.sigma,
    lambda: opts.delve?.lambda ?? defaults.delve.lambda,
    margin: opts.delve?.margin ?? defaults.delve.margin,
    direction: opts.delve?.direction ?? defaults.delve.direction,
  };

  const resume = opts.resume;
  const params = resume ? resume.params.map((p) => new Float32Array(p)) : opts.init ? paramsFromInit(arch, opts.init) : initParams(arch, seed);
  const frozen = (opts.frozen ?? []).map((name) => {
    const i = specs.findIndex((s) => s.name === name);
    if (i < 0) throw new Error(`Cannot freeze '${name}': ${arch.name} has no such tensor (it has ${specs.map((s) => s.name).join(', ')})`);
    return i;
  });
  // Batch norm's running statistics follow the batches (updateNorms), not the optimiser.
  specs.forEach((s, i) => !s.trainable && frozen.push(i));
  const norms = batchNorms(arch);
  const sgd = new LockedSgd(params, locks, {
    momentum: opts.momentum ?? defaults.training.momentum,
    weightDecay: opts.weightDecay ?? defaults.training.weightDecay,
    frozen,
  });
  const engine = opts.engine ?? (await createGradientEngine(arch, { ...(opts.threads !== undefined ? { threads: opts.threads } : {}), ...(opts.backend ? { backend: opts.backend } : {}) }));
  if (resume) sgd.restoreVelocities(resume.velocity);
  const source = gaussianSource(seed ^ 0x5eed);
  let noiseDraws = 0;
  const gauss = (): number => (noiseDraws++, source());
  for (let i = 0; i < (resume?.noiseDraws ?? 0); i++) gauss();
  const stepsPerEpoch = Math.ceil(train.n / batchSize);
  const totalSteps = stepsPerEpoch * opts.epochs;
  const history: EpochRecord[] = [...(resume?.history ?? [])];
  const firstEpoch = (resume?.epoch ?? 0) + 1;
  if (resume && !(Number.isInteger(resume.epoch) && resume.epoch >= 0 && resume.epoch <= opts.epochs)) throw new Error(`Cannot resume after epoch ${resume.epoch} of a ${opts.epochs}-epoch run`);
  // Time already spent before a resume counts, so rates and totals cover the whole run.
  const started = performance.now() - (resume?.seconds ?? 0) * 1000;
  let globalStep = (firstEpoch - 1) * stepsPerEpoch;
  let samplesSeen = resume?.samplesSeen ?? 0;
  let anchor: ParamSet | undefined = resume?.anchor;
  // A resumed run's key: the plan's positions, the values its weights hold there (they are locked).
  let planned: WatermarkKey | undefined = anchor && opts.plan ? lockedKey(opts.plan, arch, params) : undefined;
  const samplesAtStart = samplesSeen;
  const lockStep = opts.plan ? Math.min(Math.round(opts.plan.at * totalSteps), Math.max(0, totalSteps - 1)) : -1;
  const redrawSteps = new Set(
    (opts.plan?.redrawAt ?? defaults.key.redrawAt)
      .filter((f) => opts.plan && f > opts.plan.at && f < 1)
      .map((f) => Math.round(f * totalSteps))
      .filter((s) => s > lockStep && s < totalSteps),
  );
  // Values are quantiles of the tensor's free weights (materializeKey leaves keyed positions out), so a
  // re-draw reads the layer as it is now, not the locked values of the previous draw.
  const draw = (): void => {
    const p = opts.plan!;
    planned = materializeKey(p.plan, toParamSet(arch, params), { id: p.id, arch: arch.name, ...(p.commitment ? { commitment: p.commitment } : {}) });
    sgd.setLocks(mergeLocks(givenLocks, resolveLocks(planned, specs)));
    locks = [...sgd.locked];
  };
  const materialize = (): void => {
    anchor = { arch: arch.name, tensors: toParamSet(arch, params).tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) })) };
    draw();
  };
  if (planned) {
    sgd.setLocks(mergeLocks(givenLocks, resolveLocks(planned, specs)));
    locks = [...sgd.locked];
  }
  const resumedAt = performance.now();
  try {
    if (opts.plan && totalSteps === 0) materialize();
    for (let epoch = firstEpoch; epoch <= opts.epochs; epoch++) {
      const epochStart = performance.now();
      const order = shuffledIndices(train.n, seed * 1000 + epoch);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        // An in-process engine resolves its promises as microtasks; without a turn of the event loop
        // here, signals (Ctrl-C), IPC cancel messages and progress streams would wait for the whole run.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (opts.signal?.aborted) throw new TrainingCancelled();
        if (globalStep === lockStep) materialize();
        else if (redrawSteps.has(globalStep)) draw();
        const stepSeed = (Math.imul(seed, 0x9e3779b1) + globalStep) >>> 0;
        const batch = { ...gatherBatch(train, order, step * batchSize, Math.min(train.n, (step + 1) * batchSize), seededUniform(stepSeed ^ 0xa5a5a5a5)), seed: stepSeed };
        const lr = opts.schedule === 'constant' ? baseLr : 0.5 * baseLr * (1 + Math.cos((Math.PI * globalStep) / Math.max(1, totalSteps)));
        let grads: Float32Array[];
        let loss: number;
        let right: number;
        if (opts.strategy === 'delve' && locks.length > 0 && delve.replicas > 0 && delve.lambda !== 0) {
          const replicas = Array.from({ length: delve.replicas }, () => makeReplica(params, locks, delve.sigma, gauss));
          const [model, ...reps] = await engine.lossAndGradsMany([params, ...replicas], batch);
          updateNorms(norms, params, model!.grads, batch.n);
          const pushing = reps.filter((r) => r.loss - model!.loss < delve.margin).map((r) => r.grads);
          grads = delveDirection(model!.grads, pushing, (delve.lambda * pushing.length) / delve.replicas, locks, delve.direction);
          loss = model!.loss;
          right = model!.correct;
        } else {
          const res = await engine.lossAndGrads(params, batch);
          updateNorms(norms, params, res.grads, batch.n);
          grads = res.grads;
          loss = res.loss;
          right = res.correct;
        }
        if (!Number.isFinite(loss)) throw new Error(`Training diverged at epoch ${epoch}, step ${step + 1} (loss ${loss}); lower the learning rate`);
        sgd.step(grads, lr);
        globalStep++;
        seen += batch.n;
        samplesSeen += batch.n;
        lossSum += loss * batch.n;
        correct += right;
        if (opts.onCheckpoint && opts.checkpointEvery && globalStep % opts.checkpointEvery === 0) opts.onCheckpoint(globalStep, toParamSet(arch, params));
        if (opts.onProgress) {
          const rate = (samplesSeen - samplesAtStart) / Math.max((performance.now() - resumedAt) / 1000, 1e-9);
          opts.onProgress({
            epoch, epochs: opts.epochs, step: step + 1, stepsPerEpoch,
            loss: lossSum / seen, accuracy: correct / seen, samplesPerSec: rate,
            etaSec: ((totalSteps - globalStep) * batchSize) / Math.max(rate, 1e-9),
          });
        }
      }
      const evalRes = await engine.evaluate(params, { x: test.x, y: test.y, n: test.n });
      history.push({ epoch, loss: lossSum / seen, trainAccuracy: correct / seen, testAccuracy: evalRes.accuracy, seconds: (performance.now() - epochStart) / 1000, backend: engine.backend, threads: engine.threads });
      await opts.onEpochEnd?.({
        epoch, params, velocity: sgd.velocities, history: [...history], samplesSeen, seconds: (performance.now() - started) / 1000, noiseDraws,
        ...(anchor ? { anchor } : {}),
      });
    }
    const testAccuracy = history.length > 0 ? history[history.length - 1]!.testAccuracy : (await engine.evaluate(params, { x: test.x, y: test.y, n: test.n })).accuracy;
    const seconds = (performance.now() - started) / 1000;
    return { params: toParamSet(arch, params), ...(planned ? { key: planned } : {}), ...(anchor ? { anchor } : {}), testAccuracy, backend: engine.backend, threads: engine.threads, history, seconds, samplesPerSec: samplesSeen / Math.max(seconds, 1e-9) };
  } finally {
    if (!opts.engine) await engine.dispose();
  }
}

interface NormSlots {
  readonly mean: number;
  readonly variance: number;
  readonly momentum: number;
  /** Values per channel per sample (h·w): the batch variance is unbiased over n·h·w of them, as PyTorch's. */
  readonly perSample: number;
}

function batchNorms(arch: Architecture): NormSlots[] {
  const specs = paramSpecs(arch);
  const shapes = activationShapes(arch);
  const out: NormSlots[] = [];
  arch.layers.forEach((l, i) => {
    if (l.type !== 'batchNorm') return;
    const shape = shapes[i]!;
    const mean = specs.findIndex((s) => s.layer === l.name && s.role === 'movingMean');
    out.push({ mean, variance: mean + 1, momentum: l.momentum, perSample: shape.slice(0, -1).reduce((a, b) => a * b, 1) });
  });
  return out;
}

/** Running statistics from the batch's (the engine returns mean and mean of squares in their slots). */
function updateNorms(norms: readonly NormSlots[], params: Float32Array[], stats: readonly Float32Array[], n: number): void {
  for (const s of norms) {
    const mean = stats[s.mean]!;
    const meanSq = stats[s.variance]!;
    const runMean = params[s.mean]!;
    const runVar = params[s.variance]!;
    const m = n * s.perSample;
    const unbias = m > 1 ? m / (m - 1) : 1;
    for (let c = 0; c < mean.length; c++) {
      const variance = Math.max(meanSq[c]! - mean[c]! * mean[c]!, 0) * unbias;
      runMean[c] = s.momentum * runMean[c]! + (1 - s.momentum) * mean[c]!;
      runVar[c] = s.momentum * runVar[c]! + (1 - s.momentum) * variance;
    }
  }
}

/** The planned key as a model holds it: materialised, then each value read back from the locked weights. */
function lockedKey(p: NonNullable<TrainOptions['plan']>, arch: Architecture, params: readonly Float32Array[]): WatermarkKey {
  const set = toParamSet(arch, params);
  const key = materializeKey(p.plan, set, { id: p.id, arch: arch.name, ...(p.commitment ? { commitment: p.commitment } : {}) });
  const index = new Map(set.tensors.map((t, i) => [t.name, i]));
  const data = key.tensors.map((t) => params[index.get(t.name)!]!);
  return { ...key, values: key.values.map((_, i) => data[key.tensorIndex[i]!]![key.flatIndex[i]!]!) };
}

