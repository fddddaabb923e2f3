import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { getArchitecture, paramSpecs, type Architecture } from '../src/core/architectures.js';
import { initBackend } from '../src/training/backend.js';
import { createGradientEngine } from '../src/training/engine.js';
import { initParams } from '../src/core/init.js';
import { forward } from '../src/training/forward.js';
import { relErr } from './engine-helpers.js';

/** The plain tfjs formulation the fast ops must agree with. */
function referenceLogits(arch: Architecture, params: tf.Tensor[], x: tf.Tensor4D): tf.Tensor {
  let p = 0;
  let a: tf.Tensor = x;
  for (const l of arch.layers) {
    if (l.type === 'conv2d') {
      a = tf.add(tf.conv2d(a as tf.Tensor4D, params[p++] as tf.Tensor4D, l.stride, l.padding), params[p++]!);
      if (l.activation === 'relu') a = tf.relu(a);
    } else if (l.type === 'maxPool') {
      a = tf.maxPool(a as tf.Tensor4D, l.size, l.size, 'valid');
    } else if (l.type === 'flatten') {
      a = a.reshape([a.shape[0]!, -1]);
    } else {
      a = tf.add(tf.matMul(a as tf.Tensor2D, params[p++] as tf.Tensor2D), params[p++]!);
      if (l.activation === 'relu') a = tf.relu(a);
    }
  }
  return a;
}

function meanCrossEntropy(logits: tf.Tensor, labels: Uint8Array, classes: number): tf.Scalar {
  const onehot = tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), classes);
  return tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)))).div(labels.length);
}

function randomBatch(arch: Architecture, n: number, seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const [h, w, c] = arch.inputShape;
  // Like MNIST, a constant background (the top rows): its conv outputs are equal, so pooling windows
  // there hold tied maxima (positive where the bias is), which the pooling gradients must survive.
  const x = Float32Array.from({ length: n * h * w * c }, (_, i) => (Math.floor(i / (w * c)) % h < h / 2 ? 0 : rnd() * 2 - 0.5));
  const y = Uint8Array.from({ length: n }, () => Math.floor(rnd() * arch.classes));
  return { x, y, n };
}

/** Random biases too, so the bias gradients and ReLU masks are exercised away from zero. */
function randomParams(arch: Architecture, seed: number): Float32Array[] {
  const ps = initParams(arch, seed);
  return ps.map((p, i) => (paramSpecs(arch)[i]!.role === 'bias' ? p.map((_, j) => 0.05 * Math.sin(j + seed)) : p));
}

function referenceGrads(arch: Architecture, params: Float32Array[], batch: { x: Float32Array; y: Uint8Array; n: number }) {
  return tf.tidy(() => {
    const specs = paramSpecs(arch);
    const ts = params.map((p, i) => tf.tensor(p, [...specs[i]!.shape]));
    const x = tf.tensor4d(batch.x, [batch.n, ...arch.inputShape]);
    const f = (...ps: tf.Tensor[]) => meanCrossEntropy(referenceLogits(arch, ps, x), batch.y, arch.classes);
    const { value, grads } = tf.valueAndGrads(f)(ts);
    return { loss: value.dataSync()[0]!, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}


/** Not in the registry: strided 'same' convolutions, a linear conv before a pool, a pool not after a conv. */
const oddNet: Architecture = {
  name: 'odd-net',
  description: 'test-only',
  inputShape: [11, 10, 2],
  classes: 3,
  layers: [
    { type: 'conv2d', name: 'c1', filters: 4, kernel: 3, stride: 2, padding: 'same', activation: 'relu' },
    { type: 'conv2d', name: 'c2', filters: 5, kernel: 2, stride: 1, padding: 'valid', activation: 'none' },
    { type: 'maxPool', size: 2 },
    { type: 'maxPool', size: 1 },
    { type: 'flatten' },
    { type: 'dense', name: 'd1', units: 6, activation: 'relu' },
    { type: 'dense', name: 'd2', units: 3, activation: 'none' },
  ],
};

for (const arch of [getArchitecture('lenet5'), getArchitecture('mlp'), oddNet]) {
  const name = arch.name;
  test(`when the engine computes ${name} gradients on wasm, then they match tfjs cpu autodiff of the plain formulation`, async () => {
    const params = randomParams(arch, 7);
    const batch = randomBatch(arch, 3, 11);
    await initBackend('cpu');
    const ref = referenceGrads(arch, params, batch);
    const engine = await createGradientEngine(arch, { threads: 1, backend: 'wasm' });
    assert.equal(engine.backend, 'wasm');
    const got = await engine.lossAndGrads(params, batch);
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-5 * Math.max(1, ref.loss), `loss ${got.loss} vs ${ref.loss}`);
    paramSpecs(arch).forEach((s, i) => {
      assert.equal(got.grads[i]!.length, ref.grads[i]!.length);
      const e = relErr(got.grads[i]!, ref.grads[i]!);
      assert.ok(e < 1e-4, `${s.name}: relative error ${e}`);
    });
    await engine.dispose();
  });
}

test('when the engine runs on the cpu backend, then its kernels give the reference gradients there too', async () => {
  const params = randomParams(oddNet, 4);
  const batch = randomBatch(oddNet, 3, 8);
  await initBackend('cpu');
  const ref = referenceGrads(oddNet, params, batch);
  const engine = await createGradientEngine(oddNet, { threads: 1, backend: 'cpu' });
  assert.equal(engine.backend, 'cpu');
  const got = await engine.lossAndGrads(params, batch);
  paramSpecs(oddNet).forEach((s, i) => assert.ok(relErr(got.grads[i]!, ref.grads[i]!) < 1e-4, `${s.name}: relative error ${relErr(got.grads[i]!, ref.grads[i]!)}`));
});

for (const arch of [getArchitecture('lenet5'), oddNet]) {
  test(`when tfjs autodiff differentiates forward() of ${arch.name} on wasm, then the custom gradients match the cpu reference`, async () => {
    const params = randomParams(arch, 3);
    const batch = randomBatch(arch, 2, 5);
    await initBackend('cpu');
    const ref = referenceGrads(arch, params, batch);
    await initBackend('wasm');
    const got = tf.tidy(() => {
      const specs = paramSpecs(arch);
      const ts = params.map((p, i) => tf.tensor(p, [...specs[i]!.shape]));
      const x = tf.tensor4d(batch.x, [batch.n, ...arch.inputShape]);
      const f = (...ps: tf.Tensor[]) => meanCrossEntropy(forward(arch, ps, x), batch.y, arch.classes);
      return tf.grads(f)(ts).map((g) => g.dataSync() as Float32Array);
    });
    paramSpecs(arch).forEach((s, i) => assert.ok(relErr(got[i]!, ref.grads[i]!) < 1e-4, `${s.name}: relative error ${relErr(got[i]!, ref.grads[i]!)}`));
  });
}

test('when several parameter vectors share a batch in-process, then each result equals its own call and nothing leaks', async () => {
  const arch = getArchitecture('lenet5');
  const engine = await createGradientEngine(arch, { threads: 1, backend: 'wasm' });
  const batch = randomBatch(arch, 4, 21);
  const vectors = [randomParams(arch, 1), randomParams(arch, 2), randomParams(arch, 3)];
  await engine.lossAndGradsMany(vectors, batch);
  const before = { tensors: tf.memory().numTensors, buffers: tf.backend().numDataIds() };
  const many = await engine.lossAndGradsMany(vectors, batch);
  assert.deepEqual({ tensors: tf.memory().numTensors, buffers: tf.backend().numDataIds() }, before);
  for (let v = 0; v < vectors.length; v++) {
    const one = await engine.lossAndGrads(vectors[v]!, batch);
    assert.equal(many[v]!.loss, one.loss);
    one.grads.forEach((g, i) => assert.deepEqual(many[v]!.grads[i], g));
  }
  await engine.dispose();
});
