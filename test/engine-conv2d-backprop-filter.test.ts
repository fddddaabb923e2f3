import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/training/backend.js';

interface Case {
  readonly x: [number, number, number, number];
  readonly k: number;
  readonly outC: number;
  readonly stride: number;
  readonly pad: 'valid' | 'same';
}

const cases: Case[] = [
  { x: [2, 9, 9, 1], k: 3, outC: 4, stride: 1, pad: 'valid' },
  { x: [3, 8, 7, 5], k: 3, outC: 6, stride: 1, pad: 'same' },
  { x: [2, 11, 11, 3], k: 5, outC: 2, stride: 2, pad: 'valid' },
  { x: [2, 10, 9, 4], k: 3, outC: 7, stride: 2, pad: 'same' },
  { x: [1, 6, 6, 16], k: 1, outC: 8, stride: 1, pad: 'valid' },
];

function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
}

/** dLoss/dfilter for loss = sum(conv2d(x, w) * r), r a fixed random cotangent. */
function filterGrad(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const w = tf.tensor4d(values(c.k * c.k * c.x[3] * c.outC, seed), [c.k, c.k, c.x[3], c.outC]);
    const x = tf.tensor4d(values(c.x.reduce((a, b) => a * b, 1), seed + 1), c.x);
    const y = tf.conv2d(x, w, c.stride, c.pad);
    const r = tf.tensor(values(y.size, seed + 2), y.shape);
    return tf.grad((wt: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, wt as tf.Tensor4D, c.stride, c.pad), r)))(w).dataSync() as Float32Array;
  });
}

for (const c of cases) {
  test(`when tf.conv2d ${c.x.join('x')} k${c.k} stride ${c.stride} ${c.pad} is differentiated on wasm, then the filter gradient matches cpu`, async () => {
    await initBackend('cpu');
    const ref = filterGrad(c, 42);
    await initBackend('wasm');
    const got = filterGrad(c, 42);
    let num = 0;
    let den = 0;
    for (let i = 0; i < ref.length; i++) {
      num = Math.max(num, Math.abs(got[i]! - ref[i]!));
      den = Math.max(den, Math.abs(ref[i]!));
    }
    assert.ok(num / den < 1e-4, `relative error ${num / den}`);
  });
}

test('when the wasm filter-gradient kernel runs repeatedly, then no tensors or bytes leak', async () => {
  await initBackend('wasm');
  const c = cases[3]!;
  filterGrad(c, 1);
  const before = tf.memory();
  // The kernel's intermediates live below tfjs's accounting: count the backend's own buffers too.
  const buffersBefore = tf.backend().numDataIds();
  for (let i = 0; i < 5; i++) filterGrad(c, i);
  const after = tf.memory();
  assert.equal(tf.backend().numDataIds(), buffersBefore);
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  assert.equal(after.numDataBuffers, before.numDataBuffers);
});

test('when a tf.layers conv model trains on wasm, then fit runs and the loss falls', async () => {
  await initBackend('wasm');
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
  const xs = tf.tensor4d(values(32 * 64, 9).map((v, i) => v + (Math.floor(i / 64) % 2 === 0 ? 1 : -1)), [32, 8, 8, 1]);
  const ys = tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 2), 'float32');
  const h = await model.fit(xs, ys, { epochs: 5, batchSize: 8, verbose: 0 });
  const losses = h.history['loss'] as number[];
  assert.ok(losses[losses.length - 1]! < losses[0]!, `loss ${losses.join(' -> ')}`);
  model.dispose();
  tf.dispose([xs, ys]);
});
