import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runAttack } from '../src/cli/attackCommand.js';
import { runTrain } from '../src/cli/localCommands.js';
import { readDatasetPath, labelsFileFor } from '../src/data/datasetPath.js';
import { captured } from './cli-helpers.js';
import { i64npy, idxOf, imageFolderZip, mnistNpz, mnistSubset, npzOf, u8npy } from './dataset-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wm-cli-data-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('when an IDX images file is given, then its labels file is found beside it by MNIST naming (gzip or not), or taken from --labels', () => {
  const { x, y } = mnistSubset(200);
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), idxOf([200, 28, 28], x, true));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxOf([200], y));
  writeFileSync(join(dir, 'my-labels'), idxOf([200], y));
  assert.equal(labelsFileFor(join(dir, 'train-images-idx3-ubyte.gz')), join(dir, 'train-labels-idx1-ubyte'));
  const d = readDatasetPath(join(dir, 'train-images-idx3-ubyte.gz'));
  assert.deepEqual([d.format, d.set.n, ...d.summary.shape], ['idx', 200, 28, 28, 1]);
  writeFileSync(join(dir, 'digits.idx'), readFileSync(join(dir, 'train-images-idx3-ubyte.gz')));
  assert.throws(() => readDatasetPath(join(dir, 'digits.idx')), /no labels file was found beside it .* pass --labels FILE/);
  assert.equal(readDatasetPath(join(dir, 'digits.idx'), { labels: join(dir, 'my-labels') }).summary.digest, d.summary.digest);
});

test('when `weightmark train --data` names an MNIST npz, then it trains on the training split and reports held-out accuracy', { timeout: 120_000 }, async () => {
  const file = join(dir, 'mnist300.npz');
  writeFileSync(file, mnistNpz(300));
  const out = join(dir, 'model');
  const r = await captured(() => runTrain(['--arch', 'mlp', '--data', file, '--strategy', 'none', '--epochs', '1', '--batch-size', '16', '--seed', '3', '--threads', '1', '--out', out, '--json']));
  assert.equal(r.code, 0);
  const summary = JSON.parse(r.out) as { data: string; evaluatedOn: { samples: number }; testAccuracy: number };
  assert.equal(summary.data, file);
  assert.equal(summary.evaluatedOn.samples, readDatasetPath(file).summary.split.heldOut);
  assert.ok(summary.testAccuracy > 0.3, `held-out accuracy ${summary.testAccuracy}`);
});

test('when a dataset path is not a regular file or is larger than any image budget allows, then it is refused unread', () => {
  assert.throws(() => readDatasetPath('/dev/zero'), /\/dev\/zero is not a regular file/);
  const big = join(dir, 'big.npz');
  writeFileSync(big, new Uint8Array(20_000));
  assert.throws(() => readDatasetPath(big, { limits: { maxSamples: 10, maxSide: 28, maxDecodedBytes: 100, maxClasses: 10, minPerClass: 1 } }), /big\.npz is 20000 bytes; a dataset within the decoded-image budget \(100 bytes\) cannot be that large/);
});

test('when --data does not fit the architecture or comes with --dataset, then the command refuses, naming both', async () => {
  const file = join(dir, 'small.zip');
  writeFileSync(file, imageFolderZip({ classes: ['a', 'b'], perClass: 5, h: 8, w: 8 }));
  await assert.rejects(runTrain(['--arch', 'lenet5', '--data', file, '--epochs', '1', '--out', join(dir, 'x')]), /lenet5 takes 28x28x1 inputs; .*small\.zip has 8x8x1 images/);
  await assert.rejects(runTrain(['--arch', 'lenet5', '--data', file, '--dataset', 'mnist', '--epochs', '1', '--out', join(dir, 'y')]), /--dataset .* or --data .*, not both/);
});

test('when a model trained with --data is attacked, then accuracy is on that file\'s held-out split and fine-tuning trains on the file; a moved or changed file is refused', { timeout: 180_000 }, async () => {
  // MNIST digits labelled digit+1 (mod 10): measured on MNIST's test set, or fine-tuned on MNIST, the model would lose them.
  const { x, y } = mnistSubset(300);
  const file = join(dir, 'shifted.npz');
  writeFileSync(file, npzOf({ x: u8npy([300, 28, 28], x), y: i64npy([300], [...y].map((d) => (d + 1) % 10)) }));
  const out = join(dir, 'shifted-model');
  const trained = await captured(() => runTrain(['--arch', 'mlp', '--data', file, '--strategy', 'naive', '--epochs', '2', '--batch-size', '16', '--seed', '3', '--threads', '1', '--out', out, '--json']));
  assert.equal(trained.code, 0);
  const { testAccuracy } = JSON.parse(trained.out) as { testAccuracy: number };
  assert.ok(testAccuracy > 0.3, `held-out accuracy ${testAccuracy}`);

  const attack = ['--model', out, '--key', join(out, 'key.json'), '--attack', 'fine-tune', '--strength', '1', '--no-invariant', '--threads', '1', '--json'];
  const r = await captured(() => runAttack(attack));
  assert.equal(r.code, 0);
  const result = JSON.parse(r.out) as { evaluatedOn: { data: string; split: string; samples: number }; models: { before: { accuracy: number }; after: { accuracy: number } }[] };
  assert.equal(resolve(result.evaluatedOn.data), file, 'the file training.json recorded (relative to where the command ran)');
  assert.deepEqual([result.evaluatedOn.split, result.evaluatedOn.samples], ['held-out', readDatasetPath(file).summary.split.heldOut]);
  assert.equal(result.models[0]!.before.accuracy, testAccuracy, 'the unattacked model scores what training reported, on the same split');
  assert.ok(result.models[0]!.after.accuracy > 0.3, `fine-tuned accuracy ${result.models[0]!.after.accuracy}: fine-tuning on MNIST's own labels would have unlearned these`);

  renameSync(file, `${file}.moved`);
  await assert.rejects(runAttack(attack), /was trained on .*shifted\.npz, which is not here: pass --data FILE/);
  writeFileSync(file, mnistNpz(300));
  await assert.rejects(runAttack(attack), /shifted\.npz changed since .* was trained on it/);
  const onMnist = JSON.parse((await captured(() => runAttack([...attack, '--dataset', 'mnist', '--test-limit', '500']))).out) as { evaluatedOn: unknown };
  assert.deepEqual(onMnist.evaluatedOn, { dataset: 'mnist', split: 'test', samples: 500 });
});
