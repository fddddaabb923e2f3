/**
 * `weightmark watermark`: locks a fresh committed key into a model someone else trained (a PyTorch
 * checkpoint, an ONNX export, any format the readers know) by fine-tuning its free weights, and
 * reports the accuracy before and after. The key's values are drawn from the model's own weights before
 * the first step (the weights are trained already, so there is nothing to wait for), then re-drawn as
 * the fine-tune moves them (defaults.key.redrawAt), as in training.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commitmentDigest } from '../core/commitment.js';
import { defaults, strategies, type Strategy } from '../core/config.js';
import { extractValues } from '../core/extract.js';
import { scoreAgainstKey } from '../core/score.js';
import { datasetNames, defaultDatasetFor, loadDataset, type DatasetName } from '../data/datasets.js';
import { checkDataFits, dataFileRecord } from './modelData.js';
import { evaluateAccuracy } from '../eval/accuracy.js';
import { writeModel } from '../formats/index.js';
import { asCanonical } from '../formats/onnx/index.js';
import { saveTfjsModel } from '../formats/tfjsFiles.js';
import { enginePreferences } from '../training/engine.js';
import { TrainingCancelled, trainModel } from '../training/train.js';
import { num, oneOf, parse, required, UsageError } from './args.js';
import { interruptSignal } from './interrupt.js';
import { readDatasetPath } from '../data/datasetPath.js';
import { committedPlan, describeScore, modelArchitecture, progressReporter, scoreJson, writeKeyFile } from './localCommands.js';
import { loadImported, loadModel } from './modelFiles.js';
import { writeOriginal } from '../formats/onnx/writeOriginal.js';
import { ProgressBar, formatDuration } from './progress.js';

export async function runWatermark(argv: string[]): Promise<number> {
  const a = parse(argv, {
    model: { type: 'string' }, out: { type: 'string' }, arch: { type: 'string' }, dataset: { type: 'string' }, data: { type: 'string' }, labels: { type: 'string' }, holdout: { type: 'string' }, strategy: { type: 'string' },
    epochs: { type: 'string' }, lr: { type: 'string' }, momentum: { type: 'string' }, 'weight-decay': { type: 'string' }, 'batch-size': { type: 'string' },
    limit: { type: 'string' }, 'test-limit': { type: 'string' }, seed: { type: 'string' }, 'key-seed': { type: 'string' }, n: { type: 'string' },
    threads: { type: 'string' }, backend: { type: 'string' }, graph: { type: 'string' },
  });
  if (a.help) {
    console.log(`weightmark watermark --model FILE_OR_DIR --out DIR [--arch NAME] [--dataset ${datasetNames.join('|')} (default: the first whose images fit the model) | --data FILE [--labels FILE] [--holdout 0.1]]
  [--strategy naive|delve] [--epochs ${defaults.watermark.epochs}] [--lr ${defaults.watermark.lr}] [--momentum ${defaults.training.momentum}] [--weight-decay ${defaults.training.weightDecay}]
  [--batch-size ${defaults.training.batchSize}] [--limit N] [--test-limit N] [--seed N] [--key-seed S] [--n N] [--threads N] [--backend auto|onnxruntime|tensorflow|wasm|cpu] [--graph LICENSOR.onnx] [--json]
  Locks a fresh committed key into a trained model (a PyTorch .pt state_dict, safetensors, npz, ONNX,
  TensorFlow.js) by fine-tuning its free weights on the dataset; writes the watermarked model, key.json,
  commitment.json (both secret, 0600) and training.json with the test accuracy before and after.
  A network that is none of ours comes as its ONNX graph (--model model.onnx), or as its state_dict with the
  graph (--model model.pt --graph model.onnx; export in training mode, docs/architectures.md "Your own network");
  it is written back in that form (model.onnx, and model.pt / model.safetensors as it came).
  --n: key positions (default ${defaults.key.n}, at most ${defaults.key.maxShare * 100}% of the network's weights)
  --data: your own images (a zip of class folders, an .npz with x and y, or IDX files as for train):
          fine-tuned on all but the --holdout share of each class, accuracy measured on that share.`);
    return 0;
  }
  const out = required(a.out, 'out');
  if (existsSync(join(out, 'model.json'))) throw new Error(`${out} already holds a model; choose another --out`);
  const strategy = oneOf<Strategy>(a.strategy, 'strategy', strategies.filter((s) => s !== 'none'), 'naive');
  const imported = a.graph !== undefined || required(a.model, 'model').endsWith('.onnx') ? loadImported(a.model!, a.graph) : undefined;
  const loaded = imported ? { format: imported.weights, params: imported.params } : loadModel(a.model!, a.arch);
  const arch = imported?.architecture ?? modelArchitecture(a.arch, loaded.params);
  // A PyTorch state_dict (a .pt, or safetensors / npz in PyTorch names and layouts) converts exactly.
  const init = { ...(asCanonical(loaded.params.tensors, arch, 'standard') ?? loaded.params), arch: arch.name };
  if (a.data !== undefined && a.dataset !== undefined) throw new UsageError('give --dataset (a built-in) or --data (a dataset file), not both');
  const dataset = a.data ?? oneOf<DatasetName>(a.dataset, 'dataset', datasetNames, defaultDatasetFor(arch.inputShape));
  const limit = a.limit ? num(a.limit, 'limit', 0, true) : undefined;
  const testLimit = a['test-limit'] ? num(a['test-limit'], 'test-limit', 0, true) : undefined;
  const own = a.data !== undefined ? readDatasetPath(a.data, { ...(a.labels ? { labels: a.labels } : {}), ...(a.holdout ? { holdout: num(a.holdout, 'holdout', 0.1) } : {}) }) : undefined;
  if (own) checkDataFits(arch, own, a.data!);
  const splits = own?.splits(limit !== undefined ? { limit } : {});
  const testData = splits?.heldOut ?? loadDataset(dataset as DatasetName, 'test', testLimit !== undefined ? { limit: testLimit } : {});
  if (testData.shape.join('x') !== arch.inputShape.join('x')) {
    throw new UsageError(`${arch.name} takes ${arch.inputShape.join('x')} inputs; ${dataset} has ${testData.shape.join('x')} images`);
  }
  const before = await evaluateAccuracy(init, arch, testData);
  const { commitment, plan } = committedPlan({ ...a, 'embed-at': '0' }, init, arch.name, `weightmark watermark (${arch.name})`);
  const run = {
    epochs: num(a.epochs, 'epochs', defaults.watermark.epochs, true), lr: num(a.lr, 'lr', defaults.watermark.lr),
    momentum: num(a.momentum, 'momentum', defaults.training.momentum), weightDecay: num(a['weight-decay'], 'weight-decay', defaults.training.weightDecay),
    batchSize: num(a['batch-size'], 'batch-size', defaults.training.batchSize, true), seed: num(a.seed, 'seed', 1, true),
    ...(limit !== undefined ? { limit } : {}),
  };
  const bar = new ProgressBar();
  const { signal, release } = interruptSignal();
  try {
    const result = await trainModel({
      arch, ...(splits ? { trainData: splits.train } : { dataset: dataset as DatasetName }), strategy, plan, init, testData, ...run,
      ...(a.threads ? { threads: num(a.threads, 'threads', 1, true) } : {}),
      ...(a.backend ? { backend: oneOf(a.backend, 'backend', enginePreferences, 'auto') } : {}),
      onProgress: progressReporter(bar), signal,
    });
    bar.done();
    const key = result.key;
    if (!key) throw new Error('the fine-tune returned no key');
    mkdirSync(out, { recursive: true });
    // A licensor's own network goes back in its own form: the graph with new initializers, and the state_dict as it came.
    if (imported) for (const f of ['onnx' as const, ...(imported.weights === 'onnx' ? [] : [imported.weights])]) writeOriginal(f, result.params, imported.origin, imported.graphBytes).forEach((file) => writeFileSync(join(out, file.name), file.bytes));
    else saveTfjsModel(out, result.params, arch);
    writeKeyFile(join(out, 'commitment.json'), commitment);
    writeKeyFile(join(out, 'key.json'), key);
    // The model as it came: the weights from before the key was drawn, what extract aligns suspects onto.
    if (result.anchor) writeFileSync(join(out, 'anchor.safetensors'), writeModel(result.anchor, 'safetensors')[0]!.bytes);
    const score = scoreAgainstKey(extractValues(result.params, key), key);
    const summary = {
      arch: arch.name, dataset, ...(own ? { datasetDigest: own.summary.digest, heldOut: testData.n, dataFile: dataFileRecord({ path: a.data!, labels: own.files[1], holdout: own.summary.split.holdout, digest: own.summary.digest }) } : {}), strategy, source: { path: a.model, format: loaded.format }, accuracyBefore: before.accuracy, testAccuracy: result.testAccuracy,
      epochs: result.history.length, backend: result.backend, threads: result.threads, seconds: result.seconds, history: result.history, keyId: key.id, out, score: scoreJson(score),
    };
    writeFileSync(join(out, 'training.json'), JSON.stringify({ ...summary, ...run, limit: run.limit ?? null, testLimit: testLimit ?? null }, null, 2));
    if (a.json) console.log(JSON.stringify(summary));
    else {
      console.log(`Watermarked ${arch.name} (${loaded.format}) on ${dataset} (${strategy}, ${summary.epochs} epoch(s), ${formatDuration(result.seconds)}): test accuracy ${(before.accuracy * 100).toFixed(2)}% before, ${(result.testAccuracy * 100).toFixed(2)}% after`);
      console.log(`Watermark ${key.id}: ${describeScore(score)}`);
      console.log(`Model written to ${out}/ (${imported ? `the licensor's form: ${imported.weights === 'onnx' ? 'model.onnx' : `model.onnx and model.${imported.weights}`}` : 'TensorFlow.js; weightmark export converts it'}); key to ${join(out, 'key.json')} (mode 0600: keep it secret, keep it apart from the model)`);
      console.log(`The key follows from ${join(out, 'commitment.json')} (secret, 0600); its digest ${commitmentDigest(commitment)} is what to publish or timestamp.`);
    }
    return 0;
  } catch (err) {
    bar.done();
    if (err instanceof TrainingCancelled) {
      console.error('Watermarking cancelled; nothing was written.');
      return 130;
    }
    throw err;
  } finally {
    release();
  }
}
