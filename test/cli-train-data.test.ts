import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrain } from '../src/cli/localCommands.js';
import { readDatasetPath, labelsFileFor } from '../src/data/datasetPath.js';
import { captured } from './cli-helpers.js';
import { idxOf, imageFolderZip, mnistNpz, mnistSubset } from './dataset-helpers.js';

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

test('when --data does not fit the architecture or comes with --dataset, then the command refuses, naming both', async () => {
  const file = join(dir, 'small.zip');
  writeFileSync(file, imageFolderZip({ classes: ['a', 'b'], perClass: 5, h: 8, w: 8 }));
  await assert.rejects(runTrain(['--arch', 'lenet5', '--data', file, '--epochs', '1', '--out', join(dir, 'x')]), /lenet5 takes 28x28x1 inputs; .*small\.zip has 8x8x1 images/);
  await assert.rejects(runTrain(['--arch', 'lenet5', '--data', file, '--dataset', 'mnist', '--epochs', '1', '--out', join(dir, 'y')]), /--dataset .* or --data .*, not both/);
});
