import { test } from 'node:test';
import assert from 'node:assert/strict';
import { architectureNames, getArchitecture, paramSpecs, type Architecture } from '../src/core/architectures.js';
import { DEFAULT_ONNX_READ_LIMITS } from '../src/formats/onnx/index.js';
import { decodeGraph } from '../src/formats/onnx/graphDecode.js';
import { initParams } from '../src/core/init.js';
import { createGradientEngine } from '../src/training/engine.js';
import { evaluationGraph, trainingGraph } from '../src/training/onnxGraph.js';
import { relErr, trainedLooking } from './engine-helpers.js';

function batchOf(arch: Architecture, n: number, seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const [h, w, c] = arch.inputShape;
  return {
    x: Float32Array.from({ length: n * h * w * c }, () => rnd() * 2 - 1),
    y: Uint8Array.from({ length: n }, () => Math.floor(rnd() * arch.classes)),
    n,
    seed: 9,
  };
}


test('when no backend is asked for, then training runs on onnxruntime', async () => {
  const engine = await createGradientEngine('lenet5');
  assert.equal(engine.backend, 'onnxruntime');
  await engine.dispose();
});

test('when an unknown backend is asked for, then the error names the supported ones', async () => {
  await assert.rejects(createGradientEngine('lenet5', { backend: 'webgpu' as 'wasm' }), /Unknown backend 'webgpu'.*auto, onnxruntime, tensorflow, wasm, cpu/);
});

for (const name of ['resnet32', 'allcnnc']) {
  test(`when ${name} runs on 1 and on 2 onnxruntime threads, then loss and every gradient are bit-identical`, async () => {
    const arch = getArchitecture(name);
    const params = initParams(arch, 3);
    const batch = batchOf(arch, 6, 4);
    const one = await createGradientEngine(arch, { backend: 'onnxruntime', threads: 1 });
    const two = await createGradientEngine(arch, { backend: 'onnxruntime', threads: 2 });
    const a = await one.lossAndGrads(params, batch);
    const b = await two.lossAndGrads(params, batch);
    const again = await two.lossAndGrads(params, batch);
    assert.equal(a.loss, b.loss);
    a.grads.forEach((g, i) => {
      assert.deepEqual(b.grads[i], g, paramSpecs(arch)[i]!.name);
      assert.deepEqual(again.grads[i], g);
    });
    await one.dispose();
    await two.dispose();
  });
}

test('when ResNet-32 evaluates on onnxruntime, then the logits are the tfjs engine\'s (batch norm from the running statistics)', async () => {
  const arch = getArchitecture('resnet32');
  const params = trainedLooking(arch, 2);
  const batch = batchOf(arch, 5, 8);
  const onnx = await createGradientEngine(arch, { backend: 'onnxruntime', threads: 2 });
  const wasm = await createGradientEngine(arch, { backend: 'wasm', threads: 1 });
  const a = await onnx.predict(params, batch.x, batch.n);
  const b = await wasm.predict(params, batch.x, batch.n);
  assert.equal(a.length, batch.n * arch.classes);
  assert.ok(relErr(a, b) < 1e-4, `relative difference ${relErr(a, b)}`);
  const ea = await onnx.evaluate(params, batch, 2);
  const eb = await wasm.evaluate(params, batch, 2);
  assert.equal(ea.accuracy, eb.accuracy);
  assert.ok(Math.abs(ea.loss - eb.loss) < 1e-4);
  await onnx.dispose();
  await wasm.dispose();
});

test('when the training graph is built, then dropout layers become mask inputs and evaluation takes none', () => {
  const step = trainingGraph(getArchitecture('allcnnc'));
  assert.deepEqual(step.masks.map((m) => [m.rate, m.shape.join('x')]), [[0.2, '32x32x3'], [0.5, '16x16x96'], [0.5, '8x8x192']]);
  assert.equal(trainingGraph(getArchitecture('resnet32')).masks.length, 0);
  assert.ok(evaluationGraph(getArchitecture('allcnnc')).length > 0);
});

test('when a batch does not fit the architecture, then the onnxruntime engine says what it needs', async () => {
  const arch = getArchitecture('resnet32');
  const engine = await createGradientEngine(arch, { backend: 'onnxruntime', threads: 1 });
  const params = initParams(arch, 1);
  await assert.rejects(engine.lossAndGrads(params, { x: new Float32Array(10), y: new Uint8Array(1), n: 1 }), /1 samples of 32x32x3 need 3072/);
  await assert.rejects(engine.lossAndGrads(params.slice(1), batchOf(arch, 1, 1)), /has \d+ parameter tensors/);
  await engine.dispose();
});

test('when the training and evaluation graphs are built, then every node feeds an output (onnxruntime runs dead nodes too)', () => {
  for (const name of architectureNames()) {
    const arch = getArchitecture(name);
    for (const [which, bytes] of [['training', trainingGraph(arch).model], ['evaluation', evaluationGraph(arch)]] as const) {
      const g = decodeGraph(bytes, DEFAULT_ONNX_READ_LIMITS);
      const live = new Set(g.outputs);
      // Nodes come in topological order: walking back once marks every producer of a live value.
      const dead: string[] = [];
      for (const node of [...g.nodes].reverse()) {
        if (node.outputs.some((o) => live.has(o))) node.inputs.forEach((i) => live.add(i));
        else dead.push(`${node.opType} ${node.outputs.join(',')}`);
      }
      assert.deepEqual(dead, [], `${name} ${which} graph: nodes no output reads`);
    }
  }
});
