/**
 * The child process that runs one task (see childExecutor.ts): training a watermarked model, or
 * embedding a licensee's key into a release. This is the only place the service loads tfjs.
 */
import { CHECKPOINT_PHASE, type Task, type TaskResult, type JobProgress } from '../service/ports.js';
import type { ParamSet } from '../core/paramSet.js';
import type { Architecture } from '../core/architectures.js';
import type { Dataset, DatasetName } from '../data/datasets.js';
import type { TrainState } from '../training/train.js';

const abort = new AbortController();
const send = (m: unknown, then?: () => void): void => {
  process.send?.(m, undefined, {}, () => then?.());
};

process.on('message', (m: { type: string; task?: Task }) => {
  if (m.type === 'cancel') abort.abort();
  if (m.type === 'run' && m.task) {
    run(m.task).then(
      (result) => {
        send({ type: 'result', result }, () => process.disconnect?.());
      },
      (e: unknown) => {
        const err = e as Error;
        send({ type: 'error', message: err?.message ?? String(e), cancelled: abort.signal.aborted || err?.name === 'TrainingCancelled' }, () => process.disconnect?.());
      },
    );
  }
});
process.on('disconnect', () => {
  // the parent went away: nothing left to report to
  if (!abort.signal.aborted) abort.abort();
  setTimeout(() => process.exit(0), 100).unref();
});

async function run(task: Task): Promise<TaskResult> {
  if (task.architecture) {
    const { registerArchitecture } = await import('../core/architectures.js');
    registerArchitecture(task.architecture);
  }
  const { trainModel, toParamSet } = await import('../training/train.js');
  const onProgress = (p: { epoch: number; epochs: number; step: number; stepsPerEpoch: number; loss: number; accuracy: number; samplesPerSec: number; etaSec: number }): void => {
    const progress: JobProgress = { phase: 'training', ...p, fraction: (p.epoch - 1 + p.step / Math.max(1, p.stepsPerEpoch)) / Math.max(1, p.epochs) };
    send({ type: 'progress', progress });
  };
  if (task.kind === 'train') {
    const { getArchitecture } = await import('../core/architectures.js');
    const { initParams } = await import('../core/init.js');
    const { committedTraining } = await import('../training/committedKey.js');
    const { readCheckpoint, writeCheckpoint } = await import('../store/trainingCheckpoint.js');
    const arch = getArchitecture(task.arch);
    const saved = task.checkpointDir ? readCheckpoint(task.checkpointDir, arch) : undefined;
    // A resumed run needs the seed the first attempt drew (it shuffles, augments and initialises).
    const seed = (saved?.run as { seed?: number } | undefined)?.seed ?? task.seed ?? Math.floor(Math.random() * 2 ** 31);
    const init: ParamSet = task.init ?? toParamSet(arch, initParams(arch, seed));
    if (task.strategy !== 'none' && !task.commitment) throw new Error(`strategy '${task.strategy}' needs a key commitment`);
    if (saved) send({ type: 'progress', progress: { phase: `resuming after epoch ${saved.state.epoch}`, fraction: saved.state.epoch / Math.max(1, task.epochs) } satisfies JobProgress });
    const checkpointDir = task.checkpointDir;
    const uploaded = task.uploaded ? await uploadedSplits(task, task.limit) : undefined;
    // Measured once, before the first step; a resumed run has it in its checkpoint.
    const initialAccuracy = task.evaluateInit ? (saved?.run as { initialAccuracy?: number } | undefined)?.initialAccuracy ?? (await accuracyOf(init, arch, task, uploaded?.heldOut)) : undefined;
    const r = await trainModel({
      ...(saved ? { resume: saved.state } : {}),
      ...(checkpointDir
        ? {
            onEpochEnd: (state: TrainState) => {
              writeCheckpoint(checkpointDir, arch, state, { seed, ...(initialAccuracy !== undefined ? { initialAccuracy } : {}) });
              // the parent mirrors it for other workers (shared queue) on this phase
              send({ type: 'progress', progress: { phase: CHECKPOINT_PHASE, epoch: state.epoch, epochs: task.epochs, fraction: state.epoch / Math.max(1, task.epochs) } satisfies JobProgress });
            },
          }
        : {}),
      arch: arch.name,
      ...(uploaded ? { trainData: uploaded.train, testData: uploaded.heldOut } : { dataset: task.dataset as DatasetName }),
      strategy: task.strategy,
      ...(task.strategy !== 'none' && task.commitment ? { plan: committedTraining(task.commitment, init, task.keyId, { ...(task.embedAt !== undefined ? { at: task.embedAt } : {}) }) } : {}),
      init,
      epochs: task.epochs,
      seed,
      ...opt('batchSize', task.batchSize),
      ...opt('lr', task.lr),
      ...opt('momentum', task.momentum),
      ...opt('weightDecay', task.weightDecay),
      ...opt('limit', task.limit),
      ...(testLimitOf(task) !== undefined ? { testLimit: testLimitOf(task) } : {}),
      onProgress,
      signal: abort.signal,
    });
    return { params: r.params, ...(r.key ? { key: r.key } : {}), ...(r.anchor ? { anchor: r.anchor } : {}), testAccuracy: r.testAccuracy, ...(initialAccuracy !== undefined ? { initialAccuracy } : {}), backend: r.backend, seconds: r.seconds };
  }
  if (task.kind === 'attack') return runAttack(task);
  const { embedRelease } = await import('../training/release.js');
  const { defaults } = await import('../core/config.js');
  const data = task.uploaded ? await uploadedSplits(task, task.limit ?? defaults.release.limit) : undefined;
  const r = await embedRelease(task.ownerModel, task.ownerKey, {
    licensee: task.licensee,
    ...(data ? { data: { train: data.train, test: data.heldOut } } : { dataset: task.dataset as DatasetName }),
    strategy: task.strategy,
    epochs: task.epochs,
    commitment: task.commitment,
    keyId: task.keyId,
    ...opt('limit', task.limit),
    ...opt('lr', task.lr),
    onProgress,
    signal: abort.signal,
  });
  return { params: r.params, key: r.licenseeKey, testAccuracy: r.testAccuracy, backend: r.training.backend, seconds: r.training.seconds };
}

/** A run on the first N training samples is tested on the first max(1000, N) test samples: a quick run stays quick. */
const testLimitOf = (task: Extract<Task, { kind: 'train' }>): number | undefined => (task.limit ? Math.max(1000, task.limit) : undefined);

/** Test accuracy of a model before training, on the test data the run will report on (an uploaded dataset's held-out split). */
async function accuracyOf(set: ParamSet, arch: Architecture, task: Extract<Task, { kind: 'train' }>, heldOut: Dataset | undefined): Promise<number> {
  const { loadDataset } = await import('../data/datasets.js');
  const { evaluateAccuracy } = await import('../eval/accuracy.js');
  const limit = testLimitOf(task);
  const test = heldOut ?? loadDataset(task.dataset as DatasetName, 'test', limit !== undefined ? { limit } : {});
  return (await evaluateAccuracy(set, arch, test)).accuracy;
}

/** An uploaded dataset's training split (`limit` keeps its first N) and held-out split, normalised. */
async function uploadedSplits(task: Extract<Task, { kind: 'train' | 'release' }>, limit: number | undefined) {
  const { trainingSplits } = await import('../data/uploadedDataset.js');
  const u = task.uploaded!;
  return trainingSplits(u.set, u, u.id, limit !== undefined ? { limit } : {});
}

/** An attack sweep on the model: score (align → extract → score with the owner's key) and accuracy per strength. */
async function runAttack(task: Extract<Task, { kind: 'attack' }>): Promise<TaskResult> {
  const { getAttack, buildChain } = await import('../attacks/index.js');
  const { runSweep } = await import('../attacks/sweep.js');
  const { onnxEvaluator, trainerFor, attackerKeygen } = await import('../attacks/pipeline.js');
  const { scoreOneKey } = await import('../verification/verifyGroups.js');
  const { cachedEvaluator } = await import('../attacks/evaluatorCache.js');
  const { getArchitecture } = await import('../core/architectures.js');
  const { defaultDatasetFor, firstSamples, loadDataset } = await import('../data/datasets.js');
  const { trainingSplits } = await import('../data/uploadedDataset.js');
  // A chain sweeps its open step; with every strength written and no list asked for, it runs once as written.
  const chain = task.chain ? buildChain(task.chain) : undefined;
  const attack = chain ? chain.attack : getAttack(task.attack);
  const arch = getArchitecture(task.arch);
  const written = chain?.strength !== undefined && !task.strengths && !task.quick ? [chain.strength] : undefined;
  const strengths = task.strengths ?? written ?? (task.quick ? attack.strength.quick : attack.strength.defaults);
  // The model's own data: an uploaded dataset (accuracy on its held-out split, training attacks on its
  // training split), else the built-in it was trained on.
  const u = task.uploaded;
  const splits = u ? (limit?: number) => trainingSplits(u.set, u, u.id, limit !== undefined ? { limit } : {}) : undefined;
  const dataset = u?.id ?? task.dataset ?? defaultDatasetFor(arch.inputShape);
  const test = splits ? firstSamples(splits(1).heldOut, task.testLimit) : loadDataset(dataset as DatasetName, 'test', { limit: task.testLimit });
  const trainerTestLimit = Math.min(1000, task.testLimit);
  const data = splits ? (name: string, limit: number | undefined) => {
    if (name !== u!.id) return undefined;
    const s = splits(limit);
    return { train: s.train, test: firstSamples(s.heldOut, trainerTestLimit) };
  } : undefined;
  const sweep = await runSweep({
    attack,
    strengths,
    models: [{ label: 'model', params: task.model, arch }],
    // As verification scores it: the key's group, its anchor or model, both passes (docs/statistics.md).
    scorer: (suspect, _arch, _owner, { invariant }) => scoreOneKey(suspect, task.verification.group, task.verification.row, { ...task.verification.options, ...(invariant ? {} : { asReadOnly: true }) }),
    // Strength 0 of most sweeps is the unattacked model the baseline already measured.
    evaluate: cachedEvaluator(onnxEvaluator(test)),
    invariant: task.invariant,
    seed: task.seed,
    // Without a floor in the request: MNIST's absolute 95%; on any other data the unattacked accuracy − 5 points.
    accuracyFloor: task.accuracyFloor ?? (dataset === 'mnist' ? 0.95 : { drop: 0.05 }),
    context: { train: trainerFor({ testLimit: trainerTestLimit, ...opt('data', data) }), dataset, keygen: attackerKeygen, ...opt('dataLimit', task.dataLimit), ...opt('options', task.options) },
    onProgress: (p) => send({ type: 'progress', progress: { phase: `attack ${task.attack}${p.strength !== null ? ` @ ${p.strength}` : ' baseline'}`, fraction: p.done / Math.max(1, p.total) } satisfies JobProgress }),
    signal: abort.signal,
  });
  const evaluatedOn = u ? { datasetId: u.id, split: 'held-out', samples: test.n } : { dataset, split: 'test', samples: test.n };
  return { sweep: JSON.parse(JSON.stringify(sweep)) as Record<string, unknown>, evaluatedOn };
}

function opt<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}
