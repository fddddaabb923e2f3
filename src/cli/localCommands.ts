import { createHash, randomBytes } from 'node:crypto';
import { commitmentDigest, makeCommitment, parseCommitment, type KeyCommitment } from '../core/commitment.js';
import { checkDerivation, defaultKeySize, planTargets, policyRecord } from '../core/keyPlan.js';
import { committedTraining } from '../training/committedKey.js';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { architectureNames, architectureOf, findArchitecture, getArchitecture, keyableTensors, paramSpecs, type Architecture } from '../core/architectures.js';
import { alignToKey } from '../core/align/index.js';
import { oneKeyGroup, verifyOneKey } from '../verification/verifyGroups.js';
import { defaults, strategies, type Strategy } from '../core/config.js';
import { extractValues } from '../core/extract.js';
import { decodeMessage, generateKey, keyTargetsFromParamSet, parseKey, serializeKey } from '../core/keygen.js';
import { extractedPicture } from '../core/picture.js';
import type { ParamSet } from '../core/paramSet.js';
import { scoreAgainstKey, type Score } from '../core/score.js';
import type { WatermarkKey } from '../core/watermarkKey.js';
import { datasetNames, defaultDatasetFor, type DatasetName } from '../data/datasets.js';
import { readDatasetPath, type DatasetOnDisk } from '../data/datasetPath.js';
import { checkDataFits, dataFileRecord } from './modelData.js';
import { writeModel, WRITE_FORMATS, type ModelFile, type WriteFormat } from '../formats/index.js';
import { IMPORTED_PREFIX, importOnnxGraph } from '../formats/onnx/importGraph.js';
import { fromOriginal } from '../formats/onnx/origin.js';
import { ORIGINAL_FORMATS, writeOriginal, type OriginalFormat } from '../formats/onnx/writeOriginal.js';
import { asCanonical } from '../formats/onnx/index.js';
import { decodePngGrey, encodePngGrey } from '../formats/png.js';
import { saveTfjsModel } from '../formats/tfjsFiles.js';
import { initParams } from '../core/init.js';
import { TrainingCancelled, toParamSet, trainModel, type TrainOptions, type TrainProgress, type TrainState } from '../training/train.js';
import { enginePreferences } from '../training/engine.js';
import { checkpointRun, hasCheckpoint, readCheckpoint, removeCheckpoint, writeCheckpoint } from '../store/trainingCheckpoint.js';
import { UsageError, alignmentChoice, num, oneOf, parse, required } from './args.js';
import { interruptSignal } from './interrupt.js';
import { loadImported, loadKeyFile, loadModel, loadReference } from './modelFiles.js';
import { ProgressBar, formatDuration } from './progress.js';

export function progressReporter(bar: ProgressBar) {
  return (p: TrainProgress) => {
    const done = ((p.epoch - 1) * p.stepsPerEpoch + p.step) / (p.epochs * p.stepsPerEpoch);
    bar.update(done, `epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} acc ${(p.accuracy * 100).toFixed(2)}% ${p.samplesPerSec.toFixed(0)} samples/s ETA ${formatDuration(p.etaSec)}`);
  };
}

export function writeKeyFile(path: string, key: WatermarkKey | KeyCommitment): void {
  writeFileSync(path, 'format' in key ? serializeKey(key) : JSON.stringify(key), { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function scoreJson(s: Score) {
  return {
    r: s.r, n: s.n, pValue: s.pValue, log10p: s.log10p, atFloor: s.atFloor, ber: s.ber, decision: s.decision, fpr: s.fpr, comparisons: s.comparisons,
    combination: s.combination, statistic: s.statistic, inflation: s.inflation, layers: s.layers,
  };
}

export function describeScore(s: Score): string {
  // Past the floor the figure is a bound ("p < 1e-38"), never a number made of float rounding.
  const p = s.atFloor ? `< ${s.pValue.toExponential(0)}` : `= ${s.pValue.toExponential(2)}`;
  const layers = s.layers.map((l) => `${l.layer} r ${l.r.toFixed(3)} (n ${l.n}, log10 p ${l.log10p.toFixed(1)})`).join(', ');
  const inflated = s.inflation > 1 ? `\n  t divided by √${s.inflation}: aligned onto a model that carries the key (docs/statistics.md)` : '';
  return `r = ${s.r.toFixed(4)}  n = ${s.n}  p ${p}  BER = ${(s.ber * 100).toFixed(2)}%  → ${s.decision.toUpperCase()} at FPR ${s.fpr}${layers ? `\n  per layer: ${layers}` : ''}${inflated}`;
}

/** One key position per pixel: a larger picture would make the key, and the locked part of the model, too big. */
const MAX_KEY_PIXELS = 64 * 64;

function readKeyImage(path: string): { width: number; height: number; pixels: Uint8Array } {
  if (!existsSync(path)) throw new Error(`--key-image ${path}: no such file (a greyscale PNG, at most 64x64)`);
  const image = decodePngGrey(new Uint8Array(readFileSync(path)));
  if (image.width * image.height > MAX_KEY_PIXELS) {
    throw new Error(`--key-image ${path} is ${image.width}x${image.height} = ${image.width * image.height} pixels; a key picture may have at most ${MAX_KEY_PIXELS} (64x64), one key position per pixel`);
  }
  return image;
}

/**
 * The default key of a training run: a committed plan (core/keyPlan.ts), its commitment made now —
 * before training — from a random nonce (or one derived from --key-seed, for reproducible runs). Without
 * --n its size is the service's default: defaults.key.n, at most defaults.key.maxShare of the weights.
 */
export function committedPlan(a: { 'key-seed'?: string; n?: string; 'embed-at'?: string }, init: ParamSet, archName: string, subject = `weightmark train (${archName})`): { commitment: KeyCommitment; plan: NonNullable<TrainOptions['plan']> } {
  const commitment = makeCommitment({
    owner: process.env.USER ?? 'cli', subject, arch: archName,
    n: a.n !== undefined ? num(a.n, 'n', defaults.key.n, true) : defaultKeySize(planTargets(keyableTensors(archName, init.tensors)), defaults.key.allocation, defaults.key.n, defaults.key.maxShare),
    allocation: policyRecord(defaults.key.allocation), ...(a['key-seed'] !== undefined ? { nonce: createHash('sha256').update(a['key-seed']).digest('hex') } : {}),
  });
  const at = num(a['embed-at'], 'embed-at', defaults.key.embedAt);
  if (!(at >= 0 && at < 1)) throw new Error(`--embed-at must be a fraction of the run in [0, 1), got ${a['embed-at']}`);
  const digest = commitmentDigest(commitment);
  return { commitment, plan: { ...committedTraining(commitment, init, `key-${digest.slice(0, 8)}`, { at }) } };
}

/** The key for a training run: read from --key, or generated from --key-image, --key-message or random values. */
function trainingKey(a: { key?: string; 'key-image'?: string; 'key-message'?: string; 'key-seed'?: string; n?: string }, init: ParamSet, archName: string): WatermarkKey {
  const given = (['key', 'key-image', 'key-message'] as const).filter((f) => a[f] !== undefined);
  if (given.length > 1) throw new Error(`Give one of --key, --key-image, --key-message; got ${given.map((f) => `--${f}`).join(' and ')}`);
  if (a.n !== undefined && (a['key-image'] !== undefined || a['key-message'] !== undefined)) {
    throw new Error('--n cannot be combined with --key-image or --key-message: the picture (one position per pixel) or the message (one per bit) sets n');
  }
  if (a.key) return loadKeyFile(a.key);
  const seed = a['key-seed'] ?? randomBytes(32);
  const targets = keyTargetsFromParamSet(init);
  if (a['key-image'] !== undefined) return generateKey(targets, { seed, image: readKeyImage(a['key-image']), arch: archName });
  if (a['key-message'] !== undefined) return generateKey(targets, { seed, message: a['key-message'], arch: archName });
  return generateKey(targets, { seed, n: num(a.n, 'n', defaults.key.n, true), arch: archName });
}

/**
 * Everything a training run was started with, kept in its checkpoints so `--resume` repeats it
 * exactly. Secret (the commitment's nonce, an explicit key): checkpoints are written 0600.
 */
interface TrainRun {
  readonly arch: string;
  /** A built-in dataset; absent when `data` names a dataset file. */
  readonly dataset?: DatasetName;
  /** A dataset file (--data): its path, labels file, held-out share, and content digest (a resume checks the file is unchanged). */
  readonly data?: { readonly path: string; readonly labels?: string; readonly holdout: number; readonly digest: string };
  readonly strategy: Strategy;
  readonly epochs: number;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly batchSize: number;
  readonly limit?: number;
  readonly testLimit?: number;
  readonly seed: number;
  /** JSON has no Infinity: an unbounded margin is kept as null. */
  readonly delve: { replicas: number; sigma: number; lambda: number; margin: number | null };
  /** The data-parallel threads the run started with: another count sums the gradients in another order, so a resume keeps it unless told otherwise. */
  readonly threads?: number;
  readonly commitment?: KeyCommitment;
  readonly embedAt?: number;
  /** An explicit key (--key, --key-image, --key-message), serialised. */
  readonly key?: string;
  /** --warm-start: the trained model folder the run starts from, and the digest of the weights it found there. */
  readonly warmStart?: { readonly dir: string; readonly weightsSha256: string };
}

/** Flags that describe the run itself: a resumed run takes them from its checkpoint, never from the command line. */
const RUN_FLAGS = ['arch', 'dataset', 'data', 'labels', 'holdout', 'strategy', 'warm-start', 'epochs', 'limit', 'test-limit', 'seed', 'key-seed', 'key', 'n', 'lr', 'momentum', 'weight-decay', 'batch-size', 'replicas', 'sigma', 'lambda', 'margin', 'key-image', 'key-message', 'embed-at', 'key-kind'] as const;

const KEY_KINDS = ['committed', 'paper'] as const;

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function runFromFlags(a: Partial<Record<(typeof RUN_FLAGS)[number], string>>, data?: DatasetOnDisk): TrainRun {
  const arch = getArchitecture(a.arch ?? 'lenet5');
  if (data) checkDataFits(arch, data, a.data!);
  const dataset = data ? undefined : oneOf<DatasetName>(a.dataset, 'dataset', datasetNames, defaultDatasetFor(arch.inputShape));
  const strategy = oneOf<Strategy>(a.strategy, 'strategy', strategies, defaults.training.strategy);
  const seed = num(a.seed, 'seed', randomBytes(4).readUInt32LE(0) >>> 1, true);
  if (strategy === 'none' && (a['key-image'] !== undefined || a['key-message'] !== undefined)) {
    throw new Error(`--strategy none embeds no key, so --key-image and --key-message have no effect; use --strategy ${strategies.filter((s) => s !== 'none').join(' or ')}`);
  }
  const init = toParamSet(arch, initParams(arch, seed));
  // Without --key/--key-image/--key-message the key is a committed plan whose values are drawn part-way
  // through training; --key-kind paper makes the paper's key instead: n positions uniform over every kernel
  // and bias, values scale-matched to each tensor at initialisation, locked from the first step.
  const paper = oneOf(a['key-kind'], 'key-kind', KEY_KINDS, 'committed') === 'paper';
  const explicit = a.key !== undefined || a['key-image'] !== undefined || a['key-message'] !== undefined;
  if (paper && (explicit || a['embed-at'] !== undefined || strategy === 'none')) {
    throw new UsageError(`--key-kind paper draws its own key, locked from the first step: it takes --key-seed and --n, not ${explicit ? '--key, --key-image or --key-message' : a['embed-at'] !== undefined ? '--embed-at' : '--strategy none'}`);
  }
  const committed = strategy !== 'none' && !explicit && !paper ? committedPlan(a, init, arch.name) : undefined;
  const given = strategy !== 'none' && (explicit || paper) ? trainingKey(a, init, arch.name) : undefined;
  return {
    arch: arch.name, ...(dataset ? { dataset } : {}), strategy, seed,
    ...(data ? { data: { path: resolve(a.data!), ...(data.files[1] ? { labels: resolve(data.files[1]) } : {}), holdout: data.summary.split.holdout, digest: data.summary.digest } } : {}),
    epochs: num(a.epochs, 'epochs', defaults.training.epochs, true),
    lr: num(a.lr, 'lr', defaults.training.lr), momentum: num(a.momentum, 'momentum', defaults.training.momentum),
    weightDecay: num(a['weight-decay'], 'weight-decay', defaults.training.weightDecay),
    batchSize: num(a['batch-size'], 'batch-size', defaults.training.batchSize, true),
    ...(a.limit ? { limit: num(a.limit, 'limit', 0, true) } : {}),
    ...(a['test-limit'] ? { testLimit: num(a['test-limit'], 'test-limit', 0, true) } : {}),
    delve: { replicas: num(a.replicas, 'replicas', defaults.delve.replicas, true), sigma: num(a.sigma, 'sigma', defaults.delve.sigma), lambda: num(a.lambda, 'lambda', defaults.delve.lambda), margin: finiteOrNull(num(a.margin, 'margin', defaults.delve.margin)) },
    ...(committed ? { commitment: committed.commitment, embedAt: committed.plan.at } : {}),
    ...(given ? { key: serializeKey(given) } : {}),
  };
}

/**
 * A warm start's first weights, checked against the digest the run recorded; a resumed run starts from
 * its checkpoint, so the folder only has to be unchanged when the run begins.
 */
function warmStartInit(w: NonNullable<TrainRun['warmStart']>, arch: Architecture, resuming: boolean): ParamSet | undefined {
  if (resuming) return undefined;
  const { params, sha256 } = warmStartWeights(w.dir, arch);
  if (sha256 !== w.weightsSha256) throw new Error(`${w.dir} changed while the run was being set up`);
  return params;
}

/** Flags a warm start cannot take: the key comes from the model folder, never a new one. */
const WARM_START_REFUSES = ['key', 'key-seed', 'n', 'key-image', 'key-message', 'embed-at', 'key-kind'] as const;

/**
 * A run that starts from a trained model folder (--warm-start DIR) with a fresh schedule: a warm restart
 * (SGDR) when the settings are the first run's. A keyed folder keeps its key locked (naive or delve); a
 * folder without key.json trains on as `--strategy none` — marking a trained model is `weightmark watermark`.
 */
function warmStartRun(a: Partial<Record<(typeof RUN_FLAGS)[number], string>>, dir: string, data?: DatasetOnDisk): TrainRun {
  const refused = WARM_START_REFUSES.filter((f) => a[f] !== undefined);
  if (refused.length > 0) throw new UsageError(`--warm-start keeps the key of ${dir} (or none); drop ${refused.map((f) => `--${f}`).join(', ')}`);
  const previous = readPreviousTraining(dir);
  const archName = a.arch ?? previous?.arch;
  if (archName === undefined) throw new UsageError(`${dir} has no training.json naming its architecture; give --arch`);
  const arch = getArchitecture(archName);
  const weights = warmStartWeights(dir, arch);
  const keyPath = join(dir, 'key.json');
  const key = existsSync(keyPath) ? loadKeyFile(keyPath) : undefined;
  const strategy = oneOf<Strategy>(a.strategy, 'strategy', strategies, key ? defaults.training.strategy : 'none');
  if (key && strategy === 'none') throw new UsageError(`${dir} carries key ${key.id}; training it with --strategy none would set its positions free. Use --strategy naive or delve`);
  if (!key && strategy !== 'none') throw new UsageError(`${dir} holds no key.json: a warm start keeps a model's key and draws none. Use --strategy none, or 'weightmark watermark' to mark a trained model`);
  if (key && key.arch !== undefined && key.arch !== arch.name) throw new Error(`${keyPath} is a key for ${key.arch}, not ${arch.name}`);
  // Without a key flag and with strategy none, runFromFlags draws no key: the folder's is added below.
  const base = runFromFlags({ ...a, arch: arch.name, strategy: 'none' }, data);
  return { ...base, strategy, ...(key ? { key: serializeKey(key) } : {}), warmStart: { dir: resolve(dir), weightsSha256: weights.sha256 } };
}

function readPreviousTraining(dir: string): ({ arch?: string } & Record<string, unknown>) | undefined {
  const path = join(dir, 'training.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { arch?: string } & Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path} is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** The model in DIR as the architecture's tensors, and the sha256 of their safetensors serialisation (recorded so a reader can check which weights a run started from). */
function warmStartWeights(dir: string, arch: Architecture): { params: ParamSet; sha256: string } {
  if (!existsSync(join(dir, 'model.json'))) throw new UsageError(`--warm-start takes a model folder as 'weightmark train --out' writes it; ${dir} has no model.json`);
  const loaded = loadModel(dir, arch.name).params;
  if (loaded.arch !== undefined && loaded.arch !== arch.name) throw new Error(`${dir} holds a ${loaded.arch}, not a ${arch.name}`);
  const params = toParamSet(arch, paramsOf(arch, loaded, dir));
  return { params, sha256: createHash('sha256').update(writeModel(params, 'safetensors')[0]!.bytes).digest('hex') };
}

/** @throws Error naming the first tensor of the architecture the folder lacks or holds in another shape. */
function paramsOf(arch: Architecture, loaded: ParamSet, dir: string): Float32Array[] {
  const byName = new Map(loaded.tensors.map((t) => [t.name, t]));
  return paramSpecs(arch).map((spec) => {
    const t = byName.get(spec.name);
    if (!t || t.shape.join('x') !== spec.shape.join('x')) throw new Error(`${dir} does not fit ${arch.name}: tensor '${spec.name}' [${spec.shape.join(',')}] is ${t ? `[${t.shape.join(',')}]` : 'missing'}`);
    return new Float32Array(t.data);
  });
}

/** The dataset file of a run (--data), read and checked against the digest the run recorded. */
function dataOfRun(run: TrainRun): DatasetOnDisk | undefined {
  if (!run.data) return undefined;
  const d = readDatasetPath(run.data.path, { holdout: run.data.holdout, ...(run.data.labels ? { labels: run.data.labels } : {}) });
  if (d.summary.digest !== run.data.digest) throw new Error(`${run.data.path} changed since the run started (content digest ${d.summary.digest.slice(0, 12)}…, the run's ${run.data.digest.slice(0, 12)}…); restore it to resume`);
  return d;
}

export async function runTrain(argv: string[]): Promise<number> {
  const a = parse(argv, {
    arch: { type: 'string' }, dataset: { type: 'string' }, data: { type: 'string' }, labels: { type: 'string' }, holdout: { type: 'string' }, strategy: { type: 'string' }, epochs: { type: 'string' },
    out: { type: 'string' }, limit: { type: 'string' }, 'test-limit': { type: 'string' }, seed: { type: 'string' }, 'key-seed': { type: 'string' }, key: { type: 'string' },
    n: { type: 'string' }, lr: { type: 'string' }, momentum: { type: 'string' }, 'weight-decay': { type: 'string' }, 'batch-size': { type: 'string' },
    replicas: { type: 'string' }, sigma: { type: 'string' }, lambda: { type: 'string' }, margin: { type: 'string' }, threads: { type: 'string' }, backend: { type: 'string' },
    'key-image': { type: 'string' }, 'key-message': { type: 'string' }, 'embed-at': { type: 'string' }, resume: { type: 'string' }, 'warm-start': { type: 'string' },
    'key-kind': { type: 'string' },
  });
  if (a.help) {
    console.log(`weightmark train --arch ${architectureNames().join('|')} [--dataset ${datasetNames.join('|')} (default: the first whose images fit the architecture) | --data FILE [--labels FILE] [--holdout 0.1]] --strategy ${strategies.join('|')} --epochs N --out DIR
  [--limit N] [--test-limit N (evaluate on the first N test images; default all)] [--seed N] [--key FILE | --key-seed S [--n ${defaults.key.n} | --key-image LOGO.png | --key-message TEXT | --key-kind paper]] [--lr ${defaults.training.lr}] [--momentum ${defaults.training.momentum}]
  [--weight-decay ${defaults.training.weightDecay}] [--batch-size ${defaults.training.batchSize}] [--replicas ${defaults.delve.replicas}] [--sigma ${defaults.delve.sigma}] [--lambda ${defaults.delve.lambda}] [--margin M (delve: a replica whose loss exceeds the model's by M stops pushing)]
  [--threads N] [--backend auto|onnxruntime|tensorflow|wasm|cpu] [--json]
weightmark train --warm-start MODEL_DIR --epochs N --out DIR [--strategy ...] [--seed N] [--lr ...] [--dataset ...] [...]
weightmark train --resume DIR [--threads N] [--backend ...] [--json]
  --key-image: a PNG (at most 64x64) whose grey levels become the key values, one position per pixel
  --key-message: a text whose UTF-8 bits become the signs of the key values, one position per bit
  --key-kind paper: the paper's key instead of a committed one: --n positions uniform over every kernel and
            bias, values scale-matched to each tensor at initialisation, locked from the first step
  --data: your own dataset instead of a built-in one: an image-folder .zip (one folder per class, PNG or JPEG),
          an .npz with x and y, or an IDX images file (its labels file found beside it by MNIST's naming, or
          --labels). Trains on all but a stratified --holdout share of each class (default 0.1) and reports
          accuracy on that held-out share (the split the service would draw for the same content)
  --warm-start: start from the trained model in MODEL_DIR with a fresh schedule and momentum (a warm
            restart): its key.json stays locked and its commitment and anchor carry over, or, without a key,
            it trains on with --strategy none; training.json records the folder, its weights' sha256 and
            its own training.json. Pick a new --seed, or the data order repeats the first run's
  --resume: continue the run whose checkpoint DIR holds (written after every epoch; Ctrl-C, a crash or a
            reboot lose at most the epoch under way); the run's own settings come from the checkpoint`);
    return 0;
  }
  let out: string;
  let run: TrainRun;
  let resumeFrom: TrainState | undefined;
  if (a.resume !== undefined) {
    const given = RUN_FLAGS.filter((f) => a[f] !== undefined);
    if (given.length > 0) throw new UsageError(`--resume continues a run with the settings it started with; drop ${given.map((f) => `--${f}`).join(', ')}`);
    if (a.out !== undefined && a.out !== a.resume) throw new UsageError('--resume writes into the folder it resumes; drop --out');
    out = a.resume;
    run = checkpointRun(out) as TrainRun;
    resumeFrom = readCheckpoint(out, getArchitecture(run.arch))!.state;
  } else {
    out = required(a.out, 'out');
    if (existsSync(join(out, 'model.json'))) throw new Error(`${out} already holds a model; choose another --out`);
    if (hasCheckpoint(out)) throw new Error(`${out} holds an unfinished run; continue it with: weightmark train --resume ${out}`);
    if (a.data !== undefined && a.dataset !== undefined) throw new UsageError(`give --dataset (a built-in) or --data (a dataset file), not both`);
    const data = a.data !== undefined ? readDatasetPath(a.data, { ...(a.labels ? { labels: a.labels } : {}), ...(a.holdout ? { holdout: num(a.holdout, 'holdout', 0.1) } : {}) }) : undefined;
    const fresh = a['warm-start'] !== undefined ? warmStartRun(a, a['warm-start'], data) : runFromFlags(a, data);
    run = { ...fresh, ...(a.threads ? { threads: num(a.threads, 'threads', 1, true) } : {}) };
  }
  const splits = dataOfRun(run)?.splits(run.limit !== undefined ? { limit: run.limit } : {});
  const dataLabel = run.data ? run.data.path : run.dataset!;
  const arch = getArchitecture(run.arch);
  const init = run.warmStart ? warmStartInit(run.warmStart, arch, resumeFrom !== undefined) : toParamSet(arch, initParams(arch, run.seed));
  const given = run.key !== undefined ? parseKey(JSON.parse(run.key)) : undefined;
  const plan = run.commitment ? committedTraining(run.commitment, init ?? toParamSet(arch, initParams(arch, run.seed)), `key-${commitmentDigest(run.commitment).slice(0, 8)}`, { at: run.embedAt ?? defaults.key.embedAt }) : undefined;
  const bar = new ProgressBar();
  const { signal, release } = interruptSignal();
  try {
    const result = await trainModel({
      arch, ...(splits ? { trainData: splits.train, testData: splits.heldOut } : { dataset: run.dataset! }), strategy: run.strategy, ...(given ? { key: given } : {}), ...(plan ? { plan } : {}), ...(init ? { init } : {}),
      epochs: run.epochs, lr: run.lr, momentum: run.momentum, weightDecay: run.weightDecay, batchSize: run.batchSize,
      ...(run.limit !== undefined ? { limit: run.limit } : {}), ...(run.testLimit !== undefined ? { testLimit: run.testLimit } : {}), seed: run.seed, delve: { ...run.delve, margin: run.delve.margin ?? Infinity },
      ...(a.threads ? { threads: num(a.threads, 'threads', 1, true) } : run.threads ? { threads: run.threads } : {}),
      ...(a.backend ? { backend: oneOf(a.backend, 'backend', enginePreferences, 'auto') } : {}),
      ...(resumeFrom ? { resume: resumeFrom } : {}),
      onEpochEnd: (state) => {
        mkdirSync(out, { recursive: true });
        writeCheckpoint(out, arch, state, run);
      },
      onProgress: progressReporter(bar),
      signal,
    });
    bar.done();
    mkdirSync(out, { recursive: true });
    saveTfjsModel(out, result.params, arch);
    let score: Score | undefined;
    const key = given ?? result.key;
    if (run.commitment) writeKeyFile(join(out, 'commitment.json'), run.commitment);
    // The weights from before the key was drawn: extract aligns suspects onto them (docs/statistics.md).
    if (result.anchor) writeFileSync(join(out, 'anchor.safetensors'), writeModel(result.anchor, 'safetensors')[0]!.bytes);
    // A warm start's key was drawn by the first run: its commitment and anchor still vouch for it.
    if (run.warmStart) for (const f of ['commitment.json', 'anchor.safetensors']) if (existsSync(join(run.warmStart.dir, f))) copyFileSync(join(run.warmStart.dir, f), join(out, f));
    if (key) {
      writeKeyFile(join(out, 'key.json'), key);
      score = scoreAgainstKey(extractValues(result.params, key), key);
    }
    const summary = {
      arch: arch.name, ...(run.data ? { data: run.data.path, dataFile: dataFileRecord(run.data), evaluatedOn: { split: 'held-out', samples: splits!.heldOut.n } } : { dataset: run.dataset }), strategy: run.strategy, epochs: result.history.length, testAccuracy: result.testAccuracy,
      backend: result.backend, threads: result.threads, seconds: result.seconds, samplesPerSec: result.samplesPerSec,
      history: result.history, keyId: key?.id, out, ...(resumeFrom ? { resumedAfterEpoch: resumeFrom.epoch } : {}),
      // Relative to where the command ran, so a committed training.json names no machine's paths.
      ...(run.warmStart ? { warmStart: { from: relative(process.cwd(), run.warmStart.dir), weightsSha256: run.warmStart.weightsSha256, previous: readPreviousTraining(run.warmStart.dir) ?? null } } : {}), ...(score ? { score: scoreJson(score) } : {}),
    };
    writeFileSync(join(out, 'training.json'), JSON.stringify({ ...summary, seed: run.seed, lr: run.lr, momentum: run.momentum, weightDecay: run.weightDecay, batchSize: run.batchSize, limit: run.limit ?? null }, null, 2));
    removeCheckpoint(out);
    if (a.json) console.log(JSON.stringify(summary));
    else {
      for (const h of result.history) console.log(`epoch ${h.epoch}: loss ${h.loss.toFixed(4)}  train ${(h.trainAccuracy * 100).toFixed(2)}%  test ${(h.testAccuracy * 100).toFixed(2)}%  ${h.seconds.toFixed(1)} s`);
      console.log(`Trained ${arch.name} on ${dataLabel} (${run.strategy}) on ${result.backend} x${result.threads}: ${splits ? `held-out (${splits.heldOut.n} samples)` : 'test'} accuracy ${(result.testAccuracy * 100).toFixed(2)}% in ${formatDuration(result.seconds)} (${result.samplesPerSec.toFixed(0)} samples/s)`);
      if (score) console.log(`Watermark ${key!.id}: ${describeScore(score)}`);
      console.log(`Model written to ${out}/ (TensorFlow.js)${key ? `; key to ${join(out, 'key.json')} (mode 0600: keep it secret, keep it apart from the model)` : ''}`);
      if (run.commitment) console.log(`The key follows from ${join(out, 'commitment.json')} (secret, 0600), made before training; its digest ${commitmentDigest(run.commitment)} is what to publish or timestamp.`);
    }
    return 0;
  } catch (err) {
    bar.done();
    if (err instanceof TrainingCancelled) {
      if (hasCheckpoint(out)) console.error(`Training interrupted; the checkpoint after the last finished epoch is in ${join(out, 'checkpoint')}. Continue with: weightmark train --resume ${out}`);
      else console.error('Training cancelled before its first epoch ended; nothing was written.');
      return 130;
    }
    throw err;
  } finally {
    release();
  }
}

/** @throws unless the key was made from a picture and records its size. */
function pictureSize(key: WatermarkKey): { width: number; height: number } {
  if (key.valueKind !== 'image' || !key.image) throw new Error(`--image needs a key made from a picture (valueKind 'image'); key ${key.id} has valueKind '${key.valueKind}'`);
  return key.image;
}

/**
 * --arch, else the name the file records, else the registered architecture its tensors fit.
 * @throws Error when none of them says.
 */
function onlyOne<T>(xs: readonly T[]): T | undefined {
  return xs.length === 1 ? xs[0] : undefined;
}

export function modelArchitecture(flag: string | undefined, params: ParamSet): Architecture {
  const named = flag ?? params.arch;
  if (named !== undefined) return getArchitecture(named);
  // Our names, or a PyTorch state_dict's (names and layouts exactly as its twin's).
  const fit = architectureOf(params.tensors) ?? onlyOne(architectureNames().map(getArchitecture).filter((a) => asCanonical(params.tensors, a, 'standard')));
  if (!fit) throw new UsageError(`The model does not name its architecture and its tensors fit none of ${architectureNames().join(', ')} exactly; pass --arch NAME`);
  return fit;
}

export async function runExtract(argv: string[]): Promise<number> {
  const a = parse(argv, { model: { type: 'string' }, key: { type: 'string' }, reference: { type: 'string' }, anchor: { type: 'string' }, fpr: { type: 'string' }, arch: { type: 'string' }, 'no-invariant': { type: 'boolean' }, alignment: { type: 'string' }, image: { type: 'string' }, commitment: { type: 'string' }, graph: { type: 'string' } });
  if (a.help) {
    console.log(`weightmark extract --model FILE_OR_DIR --key FILE [--commitment FILE] [--anchor FILE | --reference FILE_OR_DIR] [--arch NAME] [--fpr 1e-6] [--alignment both|as-read|invariant] [--image OUT.png] [--graph LICENSOR.onnx] [--json]
  --graph: the model is a licensor's own network (docs/architectures.md, "Your own network"): its state_dict read
           through this graph (an .onnx --model of such a network is read through itself)
  --commitment: check that the key follows from this commitment (default: commitment.json next to the key, if there)
  --anchor:     the weights from before the key was drawn, which permuted or rescaled suspects are realigned onto
                (default: anchor.safetensors next to the key, written by train); no variance inflation, as the service
  --reference:  another model to realign onto instead, in any format (ONNX, safetensors, npz, a PyTorch .pt
                checkpoint, a TensorFlow.js folder) in our names and layouts or PyTorch's; as the marked model
                carries the key's values, t is divided by the measured inflation (docs/statistics.md)
  --alignment:  both (default): as the service's verification scoped to this key — the alignment as read, then
                (with an anchor or --reference, unless as read already matches far below the threshold) the
                invariant re-alignment, the better kept, both counted in the correction (docs/statistics.md);
                as-read: names and layouts only (--no-invariant says the same); invariant: that pass alone
  --image: for a key made from a picture, write the extracted values as a PNG (a message key's text is always printed)`);
    return 0;
  }
  const key = loadKeyFile(required(a.key, 'key'));
  const picture = a.image !== undefined ? { path: a.image, ...pictureSize(key) } : undefined;
  // A licensor's own network (an ONNX graph that is none of ours, or its state_dict with --graph) reads through its graph.
  // A key of a built-in network is read as tensors from any ONNX file: PyTorch's export of ResNet-32 is no graph to
  // import (its option-A shortcut is a Slice), and its folded batch norms are undone by the reference.
  // (An imported network's name may already be registered in this process, so the prefix decides, not the registry.)
  const builtIn = key.arch !== undefined && !key.arch.startsWith(IMPORTED_PREFIX) && findArchitecture(key.arch) !== undefined;
  const ownNetwork = a.graph !== undefined || (required(a.model, 'model').endsWith('.onnx') && !builtIn);
  const imported = ownNetwork ? loadImported(a.model!, a.graph) : undefined;
  const { format, params } = imported ? { format: imported.weights, params: imported.params } : loadModel(a.model!);
  if (a.reference !== undefined && a.anchor !== undefined) throw new UsageError('Give --anchor FILE (the weights from before the key was drawn) or --reference MODEL, not both');
  const besideKey = join(dirname(required(a.key, 'key')), 'anchor.safetensors');
  const referencePath = a.reference ?? a.anchor ?? (existsSync(besideKey) ? besideKey : undefined);
  const reference = referencePath ? loadReference(referencePath, key, a.arch ?? key.arch) : undefined;
  const archName = a.arch ?? key.arch ?? reference?.arch;
  const arch = archName ? getArchitecture(archName) : undefined;
  const fpr = num(a.fpr, 'fpr', defaults.score.fpr);
  const choice = alignmentChoice(a);
  // With a reference, 'both' and 'as-read' are the service's verification scoped to this key; aligned onto
  // anything but the anchor, the invariant pass inflates r's variance. Without a reference, the key's own
  // tensors are all there is to align by.
  const inflation = a.reference !== undefined ? defaults.score.invariantInflation : 1;
  const verdict = reference && choice !== 'invariant'
    ? verifyOneKey(params, oneKeyGroup(key, reference, arch, inflation), 0, {
      fpr, combination: defaults.score.combination, inflation: defaults.score.invariantInflation, ...(choice === 'as-read' ? { asReadOnly: true } : {}),
    })
    : undefined;
  const alone = verdict ? undefined : alignToKey(params, key, { ...(reference ? { reference } : {}), ...(arch ? { arch } : {}), ...(choice === 'as-read' ? { invariant: false } : {}) });
  const mapping = verdict?.mapping ?? alone!.mapping;
  const extracted = extractValues(verdict?.aligned ?? alone!.params, key);
  const score = verdict?.score ?? scoreAgainstKey(extracted, key, { fpr, comparisons: alone!.comparisons, ...(reference && choice === 'invariant' ? { inflation } : {}) });
  const message = key.valueKind === 'message' ? decodeMessage(extracted) : undefined;
  const commitmentPath = a.commitment ?? (key.commitment ? join(dirname(required(a.key, 'key')), 'commitment.json') : undefined);
  const derivation = commitmentPath && existsSync(commitmentPath) ? checkDerivation(key, parseCommitment(JSON.parse(readFileSync(commitmentPath, 'utf8')))) : undefined;
  if (picture) writeFileSync(picture.path, encodePngGrey(picture.width, picture.height, extractedPicture(key, extracted)));
  const nonFinite = extracted.reduce((k, v) => k + (Number.isFinite(v) ? 0 : 1), 0);
  if (a.json) console.log(JSON.stringify({ ...scoreJson(score), keyId: key.id, format, mapping, ...(verdict ? { alignment: verdict.alignment } : reference && choice === 'invariant' ? { alignment: 'invariant' } : {}), ...(nonFinite ? { nonFinite } : {}), ...(message !== undefined ? { message } : {}), ...(picture ? { image: picture.path } : {}), ...(derivation ? { derivation } : {}) }));
  else {
    console.log(`Read ${format} model; key ${key.id}`);
    for (const m of mapping) console.log(`  ${m.keyTensor} ← ${m.suspectTensor} (${m.method}${m.transform ? `, ${m.transform}` : ''})`);
    if (verdict) {
      const kept = verdict.alignment === 'as read' ? 'the alignment as read' : 'the invariant re-alignment';
      const why = choice === 'as-read' ? 'as read only, as asked'
        : verdict.invariantRan ? 'the better of both, both counted in the correction'
          : 'it matched far below the threshold, so the invariant re-alignment did not run';
      console.log(`Scored as the service's verification: ${kept} kept (${why})`);
    }
    else if (reference && choice === 'invariant') console.log('Scored through the invariant re-alignment alone, as asked');
    console.log(describeScore(score));
    if (nonFinite) console.log(`${nonFinite} of ${extracted.length} values at the key's positions are NaN or infinite (diverged weights): such a model scores r = 0, no match.`);
    if (message !== undefined) console.log(`Message: ${JSON.stringify(message)}`);
    if (picture) console.log(`Extracted picture (${picture.width}x${picture.height}) written to ${picture.path}`);
    if (derivation) console.log(derivation.ok ? `The key follows from its commitment (${commitmentPath}).` : `The key does NOT follow from ${commitmentPath}: ${derivation.reason}`);
  }
  return 0;
}

export async function runFinetune(argv: string[]): Promise<number> {
  const a = parse(argv, {
    model: { type: 'string' }, out: { type: 'string' }, epochs: { type: 'string' }, lr: { type: 'string' }, momentum: { type: 'string' },
    'weight-decay': { type: 'string' }, dataset: { type: 'string' }, limit: { type: 'string' }, seed: { type: 'string' }, arch: { type: 'string' },
    threads: { type: 'string' }, 'batch-size': { type: 'string' },
  });
  if (a.help) {
    console.log(`weightmark finetune --model DIR --out DIR [--epochs 1] [--lr 0.01] [--momentum 0.9] [--weight-decay 5e-4] [--dataset ${datasetNames.join('|')} (default: the first whose images fit the model)] [--limit N] [--json]`);
    return 0;
  }
  const out = required(a.out, 'out');
  if (existsSync(join(out, 'model.json'))) throw new Error(`${out} already holds a model; choose another --out`);
  const { params } = loadModel(required(a.model, 'model'));
  const arch = modelArchitecture(a.arch, params);
  const bar = new ProgressBar();
  const { signal, release } = interruptSignal();
  try {
    const result = await trainModel({
      arch, strategy: 'none', init: params, schedule: 'constant',
      dataset: oneOf<DatasetName>(a.dataset, 'dataset', datasetNames, defaultDatasetFor(arch.inputShape)),
      epochs: num(a.epochs, 'epochs', 1, true), lr: num(a.lr, 'lr', 0.01), momentum: num(a.momentum, 'momentum', 0.9),
      weightDecay: num(a['weight-decay'], 'weight-decay', defaults.training.weightDecay),
      batchSize: num(a['batch-size'], 'batch-size', defaults.training.batchSize, true),
      ...(a.limit ? { limit: num(a.limit, 'limit', 0, true) } : {}),
      ...(a.threads ? { threads: num(a.threads, 'threads', 1, true) } : {}),
      seed: num(a.seed, 'seed', 7, true),
      onProgress: progressReporter(bar), signal,
    });
    bar.done();
    mkdirSync(out, { recursive: true });
    saveTfjsModel(out, result.params, arch);
    const summary = { out, epochs: result.history.length, testAccuracy: result.testAccuracy, backend: result.backend, seconds: result.seconds };
    if (a.json) console.log(JSON.stringify(summary));
    else console.log(`Fine-tuned for ${summary.epochs} epoch(s): test accuracy ${(summary.testAccuracy * 100).toFixed(2)}%; written to ${out}/`);
    return 0;
  } catch (err) {
    bar.done();
    if (err instanceof TrainingCancelled) {
      console.error('Fine-tuning cancelled; nothing was written.');
      return 130;
    }
    throw err;
  } finally {
    release();
  }
}

export async function runExport(argv: string[]): Promise<number> {
  const a = parse(argv, { model: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, arch: { type: 'string' }, graph: { type: 'string' } });
  if (a.help) {
    console.log(`weightmark export --model FILE_OR_DIR --format ${WRITE_FORMATS.join('|')} --out PATH [--arch NAME]
weightmark export --model FILE --graph LICENSOR.onnx --format ${ORIGINAL_FORMATS.join('|')} --out PATH
  onnx (default): standard ONNX as torch.onnx.export writes it (input NCHW, conv1.weight OIHW, fc weights [out, in])
  onnx-nhwc: input NHWC, our canonical tensors (conv1/kernel HWIO, dense kernels [in, out])
  pt: a torch.save checkpoint of the PyTorch state_dict (conv1.weight OIHW, fc weights [out, in]) for model.load_state_dict
  --graph: the model is a licensor's own network (docs/architectures.md, "Your own network"), its weights in our
    canonical names or in the graph's; written back as that graph with new initializers (onnx), or as its
    state_dict under the graph's names and layouts (safetensors, pt)`);
    return 0;
  }
  const out = required(a.out, 'out');
  const { params } = loadModel(required(a.model, 'model'));
  if (a.graph !== undefined) return writeFiles(exportImported(params, readFileSync(a.graph), oneOf<OriginalFormat>(a.format, 'format', ORIGINAL_FORMATS, 'onnx')), out, a.json, `the licensor's graph ${a.graph}`);
  const format = oneOf<WriteFormat>(a.format, 'format', WRITE_FORMATS, 'onnx');
  const arch = modelArchitecture(a.arch, params);
  // A PyTorch state_dict (a .pt, or safetensors / npz in PyTorch names and layouts) converts exactly.
  return writeFiles({ format, files: writeModel(asCanonical(params.tensors, arch, 'standard') ?? params, format, arch) }, out, a.json, arch.name);
}

/**
 * An imported network's weights (canonical names, or the graph's own) in the graph's form; PyTorch's
 * batch-norm counters are kept when the file has them.
 * @throws UsageError when the weights are neither.
 */
function exportImported(params: ParamSet, graph: Uint8Array, format: OriginalFormat): { format: string; files: ModelFile[] } {
  const imported = importOnnxGraph(graph);
  const canonical = asCanonical(params.tensors, imported.architecture, 'nhwc') ?? fromOriginal(params.tensors, imported.origin);
  if (!canonical) throw new UsageError(`--model holds neither the canonical tensors of the graph's network (${imported.params.tensors.map((t) => t.name).slice(0, 3).join(', ')}, …) nor its initializers (${imported.origin.tensors.map((o) => o.original).slice(0, 3).join(', ')}, …)`);
  const counters = params.tensors.filter((t) => t.name.endsWith('.num_batches_tracked') && t.data.length === 1).map((t) => ({ name: t.name, value: t.data[0]! }));
  return { format, files: writeOriginal(format, canonical, { ...imported.origin, ...(counters.length ? { counters } : {}) }, graph) };
}

/** Writes one file to `out`, several into the folder `out`; says what it wrote. */
function writeFiles(written: { format: string; files: readonly ModelFile[] }, out: string, json: boolean | undefined, what: string): number {
  const { format, files } = written;
  if (files.length === 1) writeFileSync(out, files[0]!.bytes);
  else {
    mkdirSync(out, { recursive: true });
    for (const f of files) writeFileSync(join(out, f.name), f.bytes);
  }
  if (json) console.log(JSON.stringify({ format, out, files: files.map((f) => f.name) }));
  else console.log(`Exported ${what} as ${format} to ${out}`);
  return 0;
}
