import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ParamSet } from '../src/core/paramSet.js';
import { readImportedModel } from '../src/formats/onnx/importModel.js';
import { importOnnxGraph } from '../src/formats/onnx/importGraph.js';
import { writeOriginal } from '../src/formats/onnx/writeOriginal.js';
import { decodeGraph } from '../src/formats/onnx/graphDecode.js';
import { DEFAULT_ONNX_READ_LIMITS } from '../src/formats/onnx/read.js';
import { readModel } from '../src/formats/index.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { tempDir } from './http-helpers.js';
import { assertCode } from './format-helpers.js';
import { importFixture } from './import-helpers.js';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
// .ci/run installs python3-torch and sets CI: there a missing torch fails, not skips.
const skipWithoutTorch = hasTorch || process.env.CI ? false : `${python} cannot import torch (apt-get install python3-torch)`;
// onnx.checker, where Python's onnx is (Debian python3-onnx; .ci/run installs it and sets CI: there a missing onnx fails).
const skipWithoutOnnx = spawnSync(python, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0 || process.env.CI ? false : `${python} cannot import onnx (apt-get install python3-onnx)`;
/** Other weights than the file's (as a fine-tune would leave them), so a writer that copied the original would fail. */
const nudged = (set: ParamSet): ParamSet => ({ ...set, tensors: set.tensors.map((t) => ({ ...t, data: t.data.map((v, i) => v * 1.01 + 0.001 * Math.sin(i)) })) });

for (const file of ['resblock.pt', 'resblock.safetensors']) {
  test(`when ${file} is uploaded with its training-mode graph, then its names match the initializers and its counters are kept`, () => {
    const m = readImportedModel([{ name: 'resblock_train.onnx', bytes: importFixture('resblock_train.onnx') }, { name: file, bytes: importFixture(file) }])!;
    assert.equal(m.weights, file.split('.')[1]);
    assert.deepEqual(m.origin.counters?.map((c) => [c.name, c.value]), ['bn1', 'block_bn1', 'block_bn2', 'bn2'].map((b) => [`${b}.num_batches_tracked`, 17]));
    const fromGraph = importOnnxGraph(importFixture('resblock_train.onnx')).params;
    m.params.tensors.forEach((t, i) => assert.deepEqual(bits(t.data), bits(fromGraph.tensors[i]!.data), t.name));
  });
}

test('when a state_dict is uploaded with a BN-folded graph, then it is refused saying to export in training mode', () => {
  assertCode(
    () => readImportedModel([{ name: 'resblock_folded.onnx', bytes: importFixture('resblock_folded.onnx') }, { name: 'resblock.safetensors', bytes: importFixture('resblock.safetensors') }]),
    'WM_ERR_FORMAT_UNSUPPORTED', /has no tensor 'onnx::Conv_\d+'.*training=torch\.onnx\.TrainingMode\.TRAINING, do_constant_folding=False/,
  );
});

test('when new weights are written back as ONNX, then the graph keeps its nodes, names and training mode, and reads back as exactly those weights', () => {
  const original = importFixture('resblock_train.onnx');
  const { params, origin, architecture } = importOnnxGraph(original);
  const changed = nudged(params);
  const [file] = writeOriginal('onnx', changed, origin, original);
  const before = decodeGraph(original, DEFAULT_ONNX_READ_LIMITS);
  const after = decodeGraph(file!.bytes, DEFAULT_ONNX_READ_LIMITS);
  assert.deepEqual(after.nodes, before.nodes);
  assert.equal(after.opset, before.opset);
  assert.deepEqual([...after.initializers], [...before.initializers]);
  const again = importOnnxGraph(file!.bytes);
  assert.equal(again.architecture.name, architecture.name);
  changed.tensors.forEach((t, i) => assert.deepEqual(bits(again.params.tensors[i]!.data), bits(t.data), t.name));
});

test('when a training-mode graph is written back with new weights, then onnx.checker (full check, shape inference) accepts it', { skip: skipWithoutOnnx }, () => {
  const original = importFixture('resblock_train.onnx');
  const { params, origin } = importOnnxGraph(original);
  const path = join(tempDir('import-onnx-check'), 'model.onnx');
  writeFileSync(path, writeOriginal('onnx', nudged(params), origin, original)[0]!.bytes);
  const check = spawnSync(python, ['-c', 'import sys, onnx; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', path], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});

test('when a folded graph is written back with new weights, then onnxruntime runs it and gives our engine\'s logits', async () => {
  const original = importFixture('resblock_folded.onnx');
  const { params, origin, architecture } = importOnnxGraph(original);
  const changed = nudged(params);
  const [file] = writeOriginal('onnx', changed, origin, original);
  const x = Float32Array.from({ length: 3 * 784 }, (_, i) => (i % 29) / 29);
  const session = await ort.InferenceSession.create(file!.bytes);
  const out = await session.run({ input: new ort.Tensor('float32', x, [3, 1, 28, 28]) });
  await session.release();
  const ours = await predictLogits(changed, architecture, x);
  assert.ok(maxDiff(out.logits!.data as Float32Array, ours) < 1e-4, `max difference ${maxDiff(out.logits!.data as Float32Array, ours)}`);
});


for (const [net, withStateDict] of [['resblock', true], ['flathead', true], ['avgpool', true], ['viewhead', true], ['resblock', false]] as const) {
  test(`when a ${net} uploaded as ${withStateDict ? '.pt + graph' : 'its graph alone (no batch-norm counters)'} is written back as safetensors and .pt, then PyTorch loads both strictly and computes our logits`, { skip: skipWithoutTorch }, async () => {
    const files = [{ name: `${net}_train.onnx`, bytes: importFixture(`${net}_train.onnx`) }, ...(withStateDict ? [{ name: `${net}.pt`, bytes: importFixture(`${net}.pt`) }] : [])];
    const m = readImportedModel(files)!;
    const changed = nudged(m.params);
    const dir = tempDir('import-writeback');
    const [st] = writeOriginal('safetensors', changed, m.origin, importFixture(`${net}_train.onnx`));
    const [pt] = writeOriginal('pt', changed, m.origin, importFixture(`${net}_train.onnx`));
    writeFileSync(join(dir, 'model.safetensors'), st!.bytes);
    writeFileSync(join(dir, 'model.pt'), pt!.bytes);
    const names = (bytes: Uint8Array) => readModel([{ name: 'm', bytes }]).params.tensors.map((t) => t.name).filter((n) => withStateDict || !n.endsWith('.num_batches_tracked')).sort();
    assert.deepEqual(names(st!.bytes), names(importFixture(`${net}.pt`)), `the state_dict's names${withStateDict ? ', counters included' : ''}`);
    const inputs = new URL(`./fixtures/import/${net}_reference.json`, import.meta.url).pathname;
    const run = spawnSync(python, [new URL('../scripts/check_import_writeback.py', import.meta.url).pathname, net, join(dir, 'model.safetensors'), join(dir, 'model.pt'), inputs], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const torchLogits = JSON.parse(run.stdout) as number[];
    const x = Float32Array.from((JSON.parse(new TextDecoder().decode(importFixture(`${net}_reference.json`))) as { input: number[] }).input);
    const ours = await predictLogits(changed, m.architecture, x);
    assert.ok(maxDiff(ours, torchLogits) < 1e-4, `max difference ${maxDiff(ours, torchLogits)}`);
  });
}
