import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { getArchitecture, layerInputs, paramSpecs, type Architecture, type Layer } from '../src/core/architectures.js';
import { runEngineKernel } from '../src/training/wasmKernels.js';
import { initBackend } from '../src/training/backend.js';
import { createGradientEngine } from '../src/training/engine.js';
import { initParams } from '../src/core/init.js';
import { forward } from '../src/training/graph.js';
import { relErr } from './engine-helpers.js';
import { readFileSync } from 'node:fs';
import { importOnnxGraph } from '../src/formats/onnx/importGraph.js';

/**
 * The plain tfjs formulation the fast ops must agree with, in training mode: batch norm from the batch
 * statistics, dropout with the engine's own masks (drawn by its kernel, so both sides drop the same
 * units). Returns the logits and, per batch norm, its batch mean and mean of squares.
 */
function referenceLogits(arch: Architecture, params: tf.Tensor[], x: tf.Tensor4D, dropoutSeed = 0): { logits: tf.Tensor; stats: Map<number, tf.Tensor> } {
  const specs = paramSpecs(arch);
  const inputs = layerInputs(arch);
  const out: tf.Tensor[] = [];
  const stats = new Map<number, tf.Tensor>();
  const act = (t: tf.Tensor, a: 'relu' | 'none') => (a === 'relu' ? tf.relu(t) : t);
  arch.layers.forEach((l, i) => {
    const [a, b] = inputs[i]!.map((j) => (j < 0 ? x : out[j]!)) as [tf.Tensor, tf.Tensor | undefined];
    const p = 'name' in l && l.name !== undefined ? specs.findIndex((s) => s.layer === l.name) : -1;
    switch (l.type) {
      case 'conv2d': {
        const pad = typeof l.padding === 'number' ? ([[0, 0], [l.padding, l.padding], [l.padding, l.padding], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]) : l.padding;
        const y = tf.conv2d(a as tf.Tensor4D, params[p] as tf.Tensor4D, l.stride, pad);
        out[i] = act(l.useBias === false ? y : tf.add(y, params[p + 1]!), l.activation);
        break;
      }
      case 'batchNorm': {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        stats.set(p + 2, mean);
        stats.set(p + 3, tf.mean(tf.square(a), [0, 1, 2]));
        out[i] = act(tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, l.epsilon))), params[p]!), params[p + 1]!), l.activation);
        break;
      }
      case 'maxPool':
        out[i] = tf.maxPool(a as tf.Tensor4D, l.size, l.size, 'valid');
        break;
      case 'avgPool':
        out[i] = tf.avgPool(a as tf.Tensor4D, l.size, l.size, 'valid');
        break;
      case 'flatten':
        out[i] = a.reshape([a.shape[0]!, -1]);
        break;
      case 'dense':
        out[i] = act(tf.add(tf.matMul(a as tf.Tensor2D, params[p] as tf.Tensor2D), params[p + 1]!), l.activation);
        break;
      case 'add':
        out[i] = act(tf.add(a, b!), l.activation);
        break;
      case 'shortcut': {
        const [n, h, w, c] = a.shape as [number, number, number, number];
        const front = Math.floor((l.filters - c) / 2);
        // Every stride-th pixel from the first, by slices (tfjs has no gradient for a strided slice).
        const s = l.stride;
        const sampled = tf.slice(a.reshape([n, h / s, s, w / s, s, c]), [0, 0, 0, 0, 0, 0], [n, h / s, 1, w / s, 1, c]).reshape([n, h / s, w / s, c]);
        out[i] = tf.pad(sampled, [[0, 0], [0, 0], [0, 0], [front, l.filters - c - front]]);
        break;
      }
      case 'globalAvgPool':
        out[i] = tf.mean(a, [1, 2]);
        break;
      case 'dropout': {
        // The kernel reads only its input's shape: zeros keep the mask off the gradient tape's path.
        const [mask] = runEngineKernel('WmDropoutMask', [tf.zeros(a.shape)], { rate: l.rate, seed: dropoutSeed, layer: i, sampleOffset: 0 });
        out[i] = tf.mul(a, mask!);
        break;
      }
    }
  });
  return { logits: out[arch.layers.length - 1]!, stats };
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

/** Random biases and norm scales too, so their gradients and the ReLU masks are exercised away from their initial values. */
function randomParams(arch: Architecture, seed: number): Float32Array[] {
  const ps = initParams(arch, seed);
  return ps.map((p, i) => {
    const role = paramSpecs(arch)[i]!.role;
    if (role === 'bias' || role === 'beta') return p.map((_, j) => 0.05 * Math.sin(j + seed));
    return role === 'gamma' ? p.map((_, j) => 1 + 0.2 * Math.cos(j + seed)) : p;
  });
}

function referenceGrads(arch: Architecture, params: Float32Array[], batch: { x: Float32Array; y: Uint8Array; n: number; seed?: number }) {
  return tf.tidy(() => {
    const specs = paramSpecs(arch);
    const ts = params.map((p, i) => tf.tensor(p, [...specs[i]!.shape]));
    const x = tf.tensor4d(batch.x, [batch.n, ...arch.inputShape]);
    const trainable = specs.map((s, i) => (s.trainable ? i : -1)).filter((i) => i >= 0);
    const f = (...ps: tf.Tensor[]) => {
      const all = [...ts];
      trainable.forEach((t, k) => (all[t] = ps[k]!));
      return meanCrossEntropy(referenceLogits(arch, all, x, batch.seed).logits, batch.y, arch.classes);
    };
    const { value, grads } = tf.valueAndGrads(f)(trainable.map((t) => ts[t]!));
    const { stats } = referenceLogits(arch, ts, x, batch.seed);
    const out = specs.map((_, i) => stats.get(i)?.dataSync() as Float32Array | undefined);
    trainable.forEach((t, k) => (out[t] = grads[k]!.dataSync() as Float32Array));
    return { loss: value.dataSync()[0]!, grads: out.map((g) => g!) };
  });
}

/** A residual net in miniature: every layer type of resnet32 (strided conv, batch norm, option-A and identity shortcuts, global pool). */
const miniResnet: Architecture = {
  name: 'mini-resnet',
  description: 'test-only',
  inputShape: [8, 8, 3],
  classes: 3,
  layers: [
    { type: 'conv2d', name: 'c0', filters: 4, kernel: 3, stride: 1, padding: 1, activation: 'none', useBias: false },
    { type: 'batchNorm', name: 'b0', epsilon: 1e-5, momentum: 0.9, activation: 'relu' },
    { type: 'conv2d', name: 'c1', filters: 6, kernel: 3, stride: 2, padding: 1, activation: 'none', useBias: false },
    { type: 'batchNorm', name: 'b1', epsilon: 1e-5, momentum: 0.9, activation: 'relu' },
    { type: 'conv2d', name: 'c2', filters: 6, kernel: 3, stride: 1, padding: 1, activation: 'none', useBias: false },
    { type: 'batchNorm', name: 'b2', epsilon: 1e-5, momentum: 0.9, activation: 'none' },
    { type: 'shortcut', name: 's1', stride: 2, filters: 6, inputs: ['b0'] },
    { type: 'add', name: 'a1', inputs: ['b2', 's1'], activation: 'relu' },
    { type: 'conv2d', name: 'c3', filters: 6, kernel: 3, stride: 1, padding: 1, activation: 'none', useBias: false },
    { type: 'batchNorm', name: 'b3', epsilon: 1e-5, momentum: 0.9, activation: 'none' },
    { type: 'add', name: 'a2', inputs: ['b3', 'a1'], activation: 'relu' },
    { type: 'globalAvgPool' },
    { type: 'dense', name: 'fc', units: 3, activation: 'none' },
  ],
};

/** ALL-CNN-C's layer types in miniature: input and hidden dropout, strided and 1x1 convs with biases, a global pool of ReLU maps. */
const miniAllCnn: Architecture = {
  name: 'mini-allcnn',
  description: 'test-only',
  inputShape: [9, 9, 3],
  classes: 4,
  layers: [
    { type: 'dropout', rate: 0.2 },
    { type: 'conv2d', name: 'c1', filters: 5, kernel: 3, stride: 1, padding: 1, activation: 'relu' },
    { type: 'conv2d', name: 'c2', filters: 5, kernel: 3, stride: 2, padding: 1, activation: 'relu' },
    { type: 'dropout', rate: 0.5 },
    { type: 'conv2d', name: 'c3', filters: 6, kernel: 1, stride: 1, padding: 0, activation: 'relu' },
    { type: 'conv2d', name: 'c4', filters: 4, kernel: 1, stride: 1, padding: 0, activation: 'relu' },
    { type: 'globalAvgPool' },
  ],
};

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

/** Networks imported from PyTorch's ONNX exports (scripts/make_import_fixtures.py): residual block with batch norms; flatten → dropout → dense head; average pools; x.view(x.size(0), -1). */
const imported = ['resblock_train', 'flathead_train', 'avgpool_train', 'viewhead_train'].map((f) => importOnnxGraph(new Uint8Array(readFileSync(new URL(`./fixtures/import/${f}.onnx`, import.meta.url)))).architecture);

/** Average pools whose windows leave a row and a column out (9x8 by 2; 4x4 by 3), the second after a linear conv. */
const avgNet: Architecture = {
  name: 'avg-net',
  description: 'test-only',
  inputShape: [11, 10, 2],
  classes: 3,
  layers: [
    { type: 'conv2d', name: 'c1', filters: 4, kernel: 3, stride: 1, padding: 'valid', activation: 'relu' },
    { type: 'avgPool', size: 2 },
    { type: 'conv2d', name: 'c2', filters: 5, kernel: 1, stride: 1, padding: 'valid', activation: 'none' },
    { type: 'avgPool', size: 3 },
    { type: 'flatten' },
    { type: 'dense', name: 'd1', units: 3, activation: 'none' },
  ],
};

/**
 * ResNet-32 cut to its first block per stage: the registry's layers, shapes and shortcuts at 32x32, 16x16
 * and 8x8 (what the fast kernels specialise for) at a fifth of the tfjs reference's cost; the other four
 * blocks of a stage repeat the first's identity path.
 */
const resnet32FirstBlocks: Architecture = (() => {
  const full = getArchitecture('resnet32');
  const dropped = (name: string | undefined) => name !== undefined && /\/block[2-5]\//.test(name);
  const lastBlock = (input: string) => input.replace(/block5\/add$/, 'block1/add');
  const layers = full.layers
    .filter((l) => !('name' in l && dropped(l.name)))
    .map((l) => ('inputs' in l && l.inputs ? ({ ...l, inputs: l.inputs.map(lastBlock) } as Layer) : l));
  return { ...full, name: 'resnet32 (first block per stage)', layers };
})();

const engines = [{ backend: 'wasm', threads: 1 }, { backend: 'onnxruntime', threads: 2 }] as const;
for (const { backend, threads } of engines) {
  for (const arch of [getArchitecture('lenet5'), getArchitecture('mlp'), oddNet, miniResnet, miniAllCnn, avgNet, ...imported, resnet32FirstBlocks]) {
    test(`when the ${backend} engine computes ${arch.name} gradients, then they match tfjs cpu autodiff of the plain formulation`, async () => {
      const params = randomParams(arch, 7);
      const batch = { ...randomBatch(arch, arch === resnet32FirstBlocks ? 2 : 3, 11), seed: 5 };
      await initBackend('cpu');
      const ref = referenceGrads(arch, params, batch);
      const engine = await createGradientEngine(arch, { threads, backend });
      assert.equal(engine.backend, backend);
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
