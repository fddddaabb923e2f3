import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import type { Architecture } from '../src/core/architectures.js';
import { initialParamSet } from '../src/core/init.js';
import { writeOnnx } from '../src/formats/onnx/write.js';
import { writeTfjs } from '../src/formats/tfjs.js';
import { predictLogits } from '../src/eval/accuracy.js';
import { createGradientEngine } from '../src/training/engine.js';

/** A chain with an average pool leaving a row and a column out (5x5 by 2): what every chain writer must carry. */
const avgChain: Architecture = {
  name: 'avg-chain',
  description: 'test-only',
  inputShape: [7, 7, 2],
  classes: 4,
  layers: [
    { type: 'conv2d', name: 'c1', filters: 3, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'avgPool', size: 2 },
    { type: 'flatten' },
    { type: 'dense', name: 'd1', units: 4, activation: 'none' },
  ],
};
const set = initialParamSet(avgChain, 3);
const n = 3;
const x = Float32Array.from({ length: n * 7 * 7 * 2 }, (_, i) => Math.sin(i * 0.37));
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('when a chain with average pools is written as standard ONNX, NHWC ONNX and a tfjs Keras model, then each predicts the training engine\'s logits', async () => {
  const engine = await createGradientEngine(avgChain, { backend: 'wasm', threads: 1 });
  const want = await engine.predict(set.tensors.map((t) => t.data), x, n);
  await engine.dispose();

  assert.ok(maxDiff(await predictLogits(set, avgChain, x), want) < 1e-5, 'standard ONNX');

  const nhwc = await ort.InferenceSession.create(writeOnnx(set, avgChain, { layout: 'nhwc' }));
  const out = await nhwc.run({ input: new ort.Tensor('float32', x, [n, 7, 7, 2]) });
  await nhwc.release();
  assert.ok(maxDiff(out.logits!.data as Float32Array, want) < 1e-5, 'NHWC ONNX');

  const files = writeTfjs(set, avgChain);
  const json = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'model.json')!.bytes));
  const shards = files.filter((f) => f.name !== 'model.json');
  const weightData = new Uint8Array(shards.reduce((a, f) => a + f.bytes.length, 0));
  shards.reduce((at, f) => (weightData.set(f.bytes, at), at + f.bytes.length), 0);
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weightData.buffer }));
  const input = tf.tensor4d(x, [n, 7, 7, 2]);
  const got = (model.predict(input) as tf.Tensor).dataSync();
  assert.ok(maxDiff(got, want) < 1e-5, 'tfjs Keras model');
  model.dispose();
  input.dispose();
});
