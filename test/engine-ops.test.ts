import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/training/backend.js';
import { conv2d, dense, flatten, maxPool } from '../src/training/ops.js';
import { relErr } from './engine-helpers.js';

function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
}

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** Gradients of sum(op(inputs) * r) w.r.t. every input, r a fixed random cotangent. */
function gradsOf(op: (...xs: tf.Tensor[]) => tf.Tensor, shapes: number[][], seed: number): Float32Array[] {
  return tf.tidy(() => {
    const xs = shapes.map((s, i) => rand(s, seed + i));
    const y = op(...xs);
    const r = rand(y.shape, seed + 99);
    return tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(op(...ts), r)))(xs).map((g) => g.dataSync() as Float32Array);
  });
}


interface Case {
  readonly title: string;
  readonly shapes: number[][];
  readonly fast: (...xs: tf.Tensor[]) => tf.Tensor;
  readonly reference: (...xs: tf.Tensor[]) => tf.Tensor;
}

const cases: Case[] = [
  {
    title: 'conv2d + bias + ReLU, stride 1 valid',
    shapes: [[2, 9, 8, 3], [3, 3, 3, 4], [4]],
    fast: (x, k, b) => conv2d(x as tf.Tensor4D, k as tf.Tensor4D, b as tf.Tensor1D, { kernel: 3, stride: 1, padding: 'valid', activation: 'relu' }),
    reference: (x, k, b) => tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 1, 'valid'), b!)),
  },
  {
    title: 'conv2d + bias, stride 2 same, no activation',
    shapes: [[2, 7, 8, 2], [3, 3, 2, 5], [5]],
    fast: (x, k, b) => conv2d(x as tf.Tensor4D, k as tf.Tensor4D, b as tf.Tensor1D, { kernel: 3, stride: 2, padding: 'same', activation: 'none' }),
    reference: (x, k, b) => tf.add(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 2, 'same'), b!),
  },
  {
    title: 'dense + bias + ReLU',
    shapes: [[5, 7], [7, 3], [3]],
    fast: (x, k, b) => dense(x as tf.Tensor2D, k as tf.Tensor2D, b as tf.Tensor1D, 'relu'),
    reference: (x, k, b) => tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D), b!)),
  },
  {
    title: 'maxPool 2x2 on an odd-sized input',
    shapes: [[2, 7, 6, 3]],
    fast: (x) => maxPool(x as tf.Tensor4D, 2),
    reference: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'),
  },
  {
    title: 'flatten in HWC order',
    shapes: [[2, 3, 4, 5]],
    fast: (x) => flatten(x!),
    reference: (x) => tf.reshape(x!, [2, 60]),
  },
];

for (const c of cases) {
  test(`when ${c.title} is differentiated on wasm, then its gradients match the plain op on cpu`, async () => {
    await initBackend('cpu');
    const ref = gradsOf(c.reference, c.shapes, 5);
    await initBackend('wasm');
    const got = gradsOf(c.fast, c.shapes, 5);
    ref.forEach((g, i) => assert.ok(relErr(got[i]!, g) < 1e-4, `input ${i}: relative error ${relErr(got[i]!, g)}`));
  });
}
