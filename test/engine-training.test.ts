import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../src/data/datasets.js';
import { createGradientEngine } from '../src/training/engine.js';
import { initParams } from '../src/core/init.js';

test('when LeNet5 takes 200 plain SGD steps on an MNIST subset, then the held-out loss falls and memory stays flat', async () => {
  const train = loadDataset('mnist', 'train', { limit: 2000 });
  const test = loadDataset('mnist', 'test', { limit: 500 });
  const engine = await createGradientEngine('lenet5', { threads: 1, backend: 'wasm' });
  const params = initParams('lenet5', 5);
  const before = await engine.evaluate(params, test);
  const batch = 20;
  const per = 28 * 28;
  let memoryAt10: { tensors: number; buffers: number } | undefined;
  for (let step = 0; step < 200; step++) {
    const start = (step * batch) % train.n;
    const res = await engine.lossAndGrads(params, { x: train.x.subarray(start * per, (start + batch) * per), y: train.y.subarray(start, start + batch), n: batch });
    params.forEach((p, i) => {
      const g = res.grads[i]!;
      for (let j = 0; j < p.length; j++) p[j]! -= 0.05 * g[j]!;
    });
    if (step === 10) memoryAt10 = { tensors: tf.memory().numTensors, buffers: tf.backend().numDataIds() };
  }
  assert.deepEqual({ tensors: tf.memory().numTensors, buffers: tf.backend().numDataIds() }, memoryAt10);
  const after = await engine.evaluate(params, test);
  assert.ok(after.loss < 0.5 * before.loss, `held-out loss ${before.loss} -> ${after.loss}`);
  assert.ok(after.accuracy > 0.8, `held-out accuracy ${after.accuracy}`);
  await engine.dispose();
});
